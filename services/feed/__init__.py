"""The market-data feed: the head of the order path, publishing MarketEvents on the md socket.

Two sources share one service: a seeded synthetic market that walks books on the real tick ladder
(feed.synthetic), and a replay of recorded Shioaji TickSTKv1 / BidAskSTKv1 streams (feed.replay).
feed.service wires either one to the md publisher; strategy, risk and the simulated broker subscribe.
"""
