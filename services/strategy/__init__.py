"""Strategies: the runner that hosts them, the API they see, and the sample strategies."""
