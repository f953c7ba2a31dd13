"""The market-data feed: the head of the order path, publishing MarketEvents on the md socket.

Three sources share one service: a seeded synthetic market that walks books on the real tick ladder
(feed.synthetic_source), a replay of recorded Shioaji TickSTKv1 / BidAskSTKv1 streams (feed.replay_source),
and Shioaji's live quote stream (feed.shioaji_source). feed.sources chooses one from the config and
feed.service wires it to the md publisher; strategy, risk and the simulated broker subscribe.
"""
