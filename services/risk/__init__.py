"""Pre-trade risk: the validator chain and (later) StormGuard, between strategies and the adapter."""
