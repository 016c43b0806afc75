"""Generated gRPC contracts of the context service (package path = proto package path)."""
