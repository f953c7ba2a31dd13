"""Brokers the adapter can drive: the embedded SimBroker (and, later, the real Shioaji SDK)."""
