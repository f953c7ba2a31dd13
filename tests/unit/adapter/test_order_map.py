"""services.adapter.order_map: the LiveOrder journal row, in the format written now and the older ones."""

from __future__ import annotations

import msgspec
import pytest

from contracts.enums import OrderStatus
from services.adapter.lifecycle import CancelStage, Submission
from services.adapter.order_map import ROW_VERSION, decode_order, encode_order

# A LiveOrder row as the first format wrote it (a map with field names), from the adapter before
# ROW_VERSION: c1 working at 1000 with 1 filled, an amend to 999 in flight, deal d1.
FIRST_FORMAT_ROW = bytes.fromhex(
    "de001daf636c69656e745f6f726465725f6964a26331a9696e74656e745f6964a26e31ab73747261746567795f6964a36d6d31a673"
    "796d626f6ca432333330a473696465a3627579a371747903a870726963655f6534ce00989680aa70726963655f74797065a34c4d54"
    "a3746966a3524f44a6737461747573a7776f726b696e67a763756d5f71747901af62726f6b65725f6f726465725f6964a24231ae6c"
    "6173745f696e74656e745f6964a26131ae6c6173745f696e676573745f6e7300a6706c61636564c3aa637265617465645f6e7300aa"
    "757064617465645f6e7300af7461726765745f70726963655f6534ce00986f70ad77616e745f70726963655f6534ce00986f70ab77"
    "616e745f6c6561766573c0b077616e745f646561646c696e655f6e7300b0616d656e64735f696e5f666c6967687401ad6c6173745f"
    "616d656e645f6e7300a9666c7573685f647565c2ae63616e63656c5f70656e64696e67c2ad63616e63656c5f77616e746564c2ae63"
    "616e63656c5f77616974696e67c2aa756e7265736f6c766564c2a8657865635f69647391a26431"
)


# A LiveOrder row of ROW_VERSION 1, flags and all: c2 working, 2 of 5 filled, unresolved, a cancel
# waiting for the budget, a price amend retried and a cut to 1 lot unanswered.
VERSION_1_ROW = bytes.fromhex(
    "9201dc0022a26332a26e32a36d6d31a432333330a473656c6c05ce00989680a34c4d54a3524f44a7776f726b696e6702a24232a278"
    "3200c30000ce00986f70c0c000ce00986f700102c3c200c2c2c3c3c2c391a26432"
)


def test_an_order_row_of_the_first_format_is_still_recovered() -> None:
    order = decode_order(FIRST_FORMAT_ROW)
    assert (order.client_order_id, order.status, order.cum_qty, order.leaves_qty) == ("c1", OrderStatus.WORKING, 1, 2)
    assert (order.amend.asked_price_e4, order.amend.unsent_price_e4, order.amend.in_flight) == (9_990_000, 9_990_000, 1)
    assert order.exec_ids == {"d1"}
    assert (order.amend.sent_price_e4, order.amend.cut_to_leaves) == (None, None), "fields it lacks"
    assert decode_order(encode_order(order)) == order


def test_an_order_row_is_a_versioned_array_a_third_of_the_first_formats_size() -> None:
    order = decode_order(FIRST_FORMAT_ROW)
    row = encode_order(order)
    assert msgspec.msgpack.decode(row)[0] == ROW_VERSION
    assert len(row) * 3 < len(FIRST_FORMAT_ROW)


def test_an_order_row_of_another_version_is_refused() -> None:
    version, fields = msgspec.msgpack.decode(encode_order(decode_order(FIRST_FORMAT_ROW)))
    with pytest.raises(ValueError, match="order row format"):
        decode_order(msgspec.msgpack.encode([version + 1, fields]))


def test_a_version_1_row_is_recovered_with_its_flags_as_states() -> None:
    live = decode_order(VERSION_1_ROW)
    assert (live.client_order_id, live.status, live.cum_qty, live.broker_price_e4) == (
        "c2", OrderStatus.WORKING, 2, 10_000_000)
    assert (live.submission, live.cancel) == (Submission.UNRESOLVED, CancelStage.WAITING)
    amend = live.amend
    assert (amend.asked_price_e4, amend.sent_price_e4, amend.cut_to_leaves) == (9_990_000, 9_990_000, 1)
    assert (amend.in_flight, amend.price_attempt, amend.unsent) == (2, 2, False)
    assert live.exec_ids == {"d2"}
    assert decode_order(encode_order(live)) == live, "saved again in the format written now"
