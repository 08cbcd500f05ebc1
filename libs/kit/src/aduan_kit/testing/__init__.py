"""pytest fixtures for real servers (loaded by the root pytest config)."""
