"""Sample strategies shipped with orderpath."""
