"""Network services that serve the backbone's state to channels and agents."""
