"""Background jobs: the worker that claims queued runs, and the runner that trains one in a child process."""
