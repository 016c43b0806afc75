"""Reference web front end: the agent desktop and the supervisor wallboard, served over
the context service's gRPC API with the user's own credentials."""
