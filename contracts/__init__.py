"""The wire: what every orderpath service says to another, and the market rules they share.

Services import contracts; contracts import nothing of the services.
"""
