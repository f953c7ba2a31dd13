"""The Shioaji SDK boundary shared by the adapter (orders) and the feed (quotes): the one import of the
SDK, logging in, price conversions, and the fake that stands in for SinoPac's servers."""
