"""The order adapter: approved orders in, broker calls out, execution reports back to everyone."""
