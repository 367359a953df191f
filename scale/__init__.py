"""Scale-out on one machine: N app instances behind Caddy, as plain processes."""
