"""What runs on a worker: the task runner and the shuffle (store, service, fetch), output files."""
