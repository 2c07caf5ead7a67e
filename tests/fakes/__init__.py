"""Local fakes of the services the project talks to, for tests."""
