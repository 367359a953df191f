"""Server plumbing: serving with Granian, draining on SIGTERM, watching the launcher, child
processes, addresses, and the terminal (job control for a server started by make)."""
