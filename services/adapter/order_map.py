"""The adapter's live order map, keyed by client order id, with a bounded memory of closed orders.

A LiveOrder holds what the adapter knows of one order: who sent it, its broker ids, its states
(lifecycle.py: status, submission, cancel stage), filled and leaves quantity, timestamps, and its
amend sub-state (amends.py). It is saved to the journal whole, as
msgpack, after every change; the broker's own Trade handle stays inside the broker object, keyed
by the same client order id, because it cannot outlive the process.

The journal row is `[ROW_VERSION, [field values in declaration order]]`: about a third of the
bytes of a map with field names, on every save of the hot path. Fields are only ever appended
(with a default), so a row with fewer fields still decodes; anything else bumps ROW_VERSION. Rows
of version 1 (flags where version 2 has states) and of the first format (a map with field names,
before the version) still decode, upgraded, so a journal written by an older adapter is recovered.
"""

from __future__ import annotations

from collections import OrderedDict

import msgspec

from contracts.enums import OrderStatus, PriceType, Side, TimeInForce
from services.adapter.lifecycle import CancelStage, Submission


class AmendState(msgspec.Struct, array_like=True):
    """The amend coalescer's view of one order (amends.py): what the strategy asked, what is sent, what is not."""

    # The newest price the strategy asked for; the broker's price again once nothing is asked or in flight.
    asked_price_e4: int = 0
    # Asked for and not sent yet: the newest price and leaves, and the deadline of the amend that asked.
    unsent_price_e4: int | None = None
    unsent_leaves: int | None = None
    deadline_ns: int = 0
    # The price last sent (the broker ends there once it answers); None when what the broker did is unknown.
    sent_price_e4: int | None = None
    # The leaves an update_qty in flight (or unanswered, until a query tells) cuts the order to: one cut at a time.
    cut_to_leaves: int | None = None
    in_flight: int = 0
    price_attempt: int = 1  # 2 while a price amend that timed out is sent again
    last_sent_ns: int = 0

    @property
    def unsent(self) -> bool:
        return self.unsent_price_e4 is not None or self.unsent_leaves is not None

    def drop_unsent(self) -> None:
        self.unsent_price_e4 = self.unsent_leaves = None


class LiveOrder(msgspec.Struct, array_like=True):
    client_order_id: str
    intent_id: str
    strategy_id: str
    symbol: str
    side: Side
    qty: int
    broker_price_e4: int  # the order's price at the broker: its NEW's, then the last amend the broker took
    price_type: PriceType = PriceType.LMT
    tif: TimeInForce = TimeInForce.ROD
    status: OrderStatus = OrderStatus.PENDING_NEW
    submission: Submission = Submission.QUEUED
    cancel: CancelStage = CancelStage.NONE
    cum_qty: int = 0
    broker_order_id: str = ""
    last_intent_id: str = ""
    created_ns: int = 0
    updated_ns: int = 0
    amend: AmendState = msgspec.field(default_factory=AmendState)
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


ROW_VERSION = 2


class _LiveOrderV1(msgspec.Struct, array_like=True):
    """A row of ROW_VERSION 1 (and, as a map, of the first format): flags where version 2 has stages."""

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
    target_price_e4: int = 0
    want_price_e4: int | None = None
    want_leaves: int | None = None
    want_deadline_ns: int = 0
    sent_price_e4: int | None = None
    sent_leaves: int | None = None
    amends_in_flight: int = 0
    amend_retried: bool = False
    amend_waiting: bool = False
    last_amend_ns: int = 0
    flush_due: bool = False
    cancel_pending: bool = False
    cancel_wanted: bool = False
    cancel_waiting: bool = False
    query_waiting: bool = False
    unresolved: bool = False
    exec_ids: set[str] = msgspec.field(default_factory=set)

    def upgraded(self) -> LiveOrder:
        submission = (Submission.UNRESOLVED if self.unresolved else Submission.SENT) if self.placed \
            else Submission.QUEUED
        cancel = (CancelStage.PENDING if self.cancel_pending else CancelStage.WAITING if self.cancel_waiting
                  else CancelStage.WANTED if self.cancel_wanted else CancelStage.NONE)
        return LiveOrder(
            client_order_id=self.client_order_id, intent_id=self.intent_id, strategy_id=self.strategy_id,
            symbol=self.symbol, side=self.side, qty=self.qty, broker_price_e4=self.price_e4,
            price_type=self.price_type, tif=self.tif, status=self.status, submission=submission, cancel=cancel,
            cum_qty=self.cum_qty, broker_order_id=self.broker_order_id, last_intent_id=self.last_intent_id,
            created_ns=self.created_ns, updated_ns=self.updated_ns,
            amend=AmendState(
                asked_price_e4=self.target_price_e4, unsent_price_e4=self.want_price_e4,
                unsent_leaves=self.want_leaves, deadline_ns=self.want_deadline_ns, sent_price_e4=self.sent_price_e4,
                cut_to_leaves=self.sent_leaves, in_flight=self.amends_in_flight,
                price_attempt=2 if self.amend_retried else 1, last_sent_ns=self.last_amend_ns,
            ),
            exec_ids=self.exec_ids,
        )


def _map_field(info: msgspec.structs.FieldInfo) -> tuple[str, object] | tuple[str, object, object]:
    if info.required:
        return info.name, info.type
    if info.default_factory is not msgspec.NODEFAULT:
        return info.name, info.type, msgspec.field(default_factory=info.default_factory)
    return info.name, info.type, info.default


# The first format: version 1's fields in a map with their names; fields it lacks take their defaults.
_MapRow = msgspec.defstruct("LiveOrderMapRow", [_map_field(info) for info in msgspec.structs.fields(_LiveOrderV1)])
_MSGPACK_MAPS = frozenset({*range(0x80, 0x90), 0xDE, 0xDF})  # fixmap, map16, map32

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(tuple[int, msgspec.Raw])
_row_decoders = {ROW_VERSION: msgspec.msgpack.Decoder(LiveOrder), 1: msgspec.msgpack.Decoder(_LiveOrderV1)}
_map_decoder = msgspec.msgpack.Decoder(_MapRow)


def encode_order(order: LiveOrder) -> bytes:
    return _encoder.encode((ROW_VERSION, order))


def decode_order(payload: bytes) -> LiveOrder:
    """A journal row in any format an adapter has written up to this one's."""
    if payload and payload[0] in _MSGPACK_MAPS:
        return _LiveOrderV1(**msgspec.structs.asdict(_map_decoder.decode(payload))).upgraded()
    version, fields = _decoder.decode(payload)
    row_decoder = _row_decoders.get(version)
    if row_decoder is None:
        raise ValueError(f"order row format {version} is not {ROW_VERSION}: written by another adapter version")
    order = row_decoder.decode(fields)
    return order if isinstance(order, LiveOrder) else order.upgraded()


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
