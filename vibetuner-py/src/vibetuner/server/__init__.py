"""Server plumbing: serving with Granian, draining on SIGTERM, watching the launcher, child
processes and addresses."""
