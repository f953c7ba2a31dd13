"""The adapter's live order map, keyed by client order id, with a bounded memory of closed orders.

A LiveOrder holds what the adapter knows of one order: who sent it, its broker ids, state, filled
and leaves quantity, timestamps, and the work in flight on it (an amend waiting to go out, a
cancel unanswered, a NEW whose fate is being reconciled). It is saved to the journal whole, as
msgpack, after every change; the broker's own Trade handle stays inside the broker object, keyed
by the same client order id, because it cannot outlive the process.

The journal row is `[ROW_VERSION, [field values in declaration order]]`: about a third of the
bytes of a map with field names, on every save of the hot path. Fields are only ever appended
(with a default), so a row with fewer fields still decodes; anything else bumps ROW_VERSION. A
row of the first format (a map with field names, before the version) still decodes, so a journal
written by an older adapter is recovered.
"""

from __future__ import annotations

from collections import OrderedDict

import msgspec

from contracts.enums import OrderStatus, PriceType, Side, TimeInForce


class LiveOrder(msgspec.Struct, array_like=True):
    client_order_id: str
    intent_id: str
    strategy_id: str
    symbol: str
    side: Side
    qty: int
    price_e4: int
    price_type: PriceType = PriceType.LMT
    tif: TimeInForce = TimeInForce.ROD
    status: OrderStatus = OrderStatus.PENDING_NEW
    cum_qty: int = 0
    broker_order_id: str = ""
    last_intent_id: str = ""
    last_ingest_ns: int = 0
    placed: bool = False
    created_ns: int = 0
    updated_ns: int = 0
    # Amend coalescing: the newest price and leaves the strategy asked for, not yet sent.
    target_price_e4: int = 0
    want_price_e4: int | None = None
    want_leaves: int | None = None
    want_deadline_ns: int = 0
    # The price last sent (the broker ends there once it answers); None when what the broker did is unknown.
    sent_price_e4: int | None = None
    # The leaves an update_qty in flight (or unanswered, until a query tells) cuts the order to: one cut at a time.
    sent_leaves: int | None = None
    amends_in_flight: int = 0
    amend_retried: bool = False  # a price amend timed out and was sent again
    amend_waiting: bool = False  # queued for the order budget
    last_amend_ns: int = 0
    flush_due: bool = False
    cancel_pending: bool = False
    cancel_wanted: bool = False
    cancel_waiting: bool = False
    query_waiting: bool = False
    # A NEW that timed out: reported failed, kept until the broker's answer or a query settles it.
    unresolved: bool = False
    exec_ids: set[str] = msgspec.field(default_factory=set)

    @property
    def leaves_qty(self) -> int:
        if self.status in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
            return 0
        return self.qty - self.cum_qty

    @property
    def working(self) -> bool:
        """At the broker, or possibly at the broker: what a kill switch must still cancel."""
        return self.status in (OrderStatus.PENDING_NEW, OrderStatus.WORKING, OrderStatus.PARTIALLY_FILLED)


ROW_VERSION = 1


def _map_field(info: msgspec.structs.FieldInfo) -> tuple[str, object] | tuple[str, object, object]:
    if info.required:
        return info.name, info.type
    if info.default_factory is not msgspec.NODEFAULT:
        return info.name, info.type, msgspec.field(default_factory=info.default_factory)
    return info.name, info.type, info.default


# The first format: the same fields in a map with their names; fields it lacks take their defaults.
_MapRow = msgspec.defstruct("LiveOrderMapRow", [_map_field(info) for info in msgspec.structs.fields(LiveOrder)])
_MSGPACK_MAPS = frozenset({*range(0x80, 0x90), 0xDE, 0xDF})  # fixmap, map16, map32

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(tuple[int, LiveOrder])
_map_decoder = msgspec.msgpack.Decoder(_MapRow)


def encode_order(order: LiveOrder) -> bytes:
    return _encoder.encode((ROW_VERSION, order))


def decode_order(payload: bytes) -> LiveOrder:
    """A journal row in any format an adapter has written up to this one's."""
    if payload and payload[0] in _MSGPACK_MAPS:
        return LiveOrder(**msgspec.structs.asdict(_map_decoder.decode(payload)))
    version, order = _decoder.decode(payload)
    if version != ROW_VERSION:
        raise ValueError(f"order row format {version} is not {ROW_VERSION}: written by another adapter version")
    return order


class OrderMap:
    def __init__(self, closed_capacity: int = 10_000) -> None:
        self.live: dict[str, LiveOrder] = {}
        self._closed: OrderedDict[str, LiveOrder] = OrderedDict()
        self._closed_capacity = closed_capacity

    def get(self, client_order_id: str) -> LiveOrder | None:
        return self.live.get(client_order_id)

    def closed(self, client_order_id: str) -> LiveOrder | None:
        return self._closed.get(client_order_id)

    def known(self, client_order_id: str) -> bool:
        return client_order_id in self.live or client_order_id in self._closed

    def add(self, order: LiveOrder) -> None:
        self.live[order.client_order_id] = order

    def close(self, order: LiveOrder) -> None:
        """Move a finished order out of the live map; remembered (bounded) so late events are recognised."""
        self.live.pop(order.client_order_id, None)
        self._closed[order.client_order_id] = order
        if len(self._closed) > self._closed_capacity:
            self._closed.popitem(last=False)
