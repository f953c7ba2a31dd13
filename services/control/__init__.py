"""Control: StormGuard authority, operator requests on the ops socket, heartbeats, the CLI's server side."""
