"""orderpath services: feed, strategy, risk, adapter, control, and the runtime they share."""
