"""What every service shares: sockets, loop, clock, metrics, logging, config, heartbeats."""
