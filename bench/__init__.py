"""Benchmarks that print figures. Nothing here asserts; speed is never a test."""
