"""The fake cannot drift from the installed SDK: for every SDK method the adapter, the quote bridge or
the login call, the fake's signature is compared with inspect.signature of the SDK's class method
(read off the class, never an instance: building sj.Shioaji reaches the network), the look-alike
objects carry the real classes' attribute names, and the fake's event messages have exactly the
keys of the SDK's own TypedDicts (read from the installed package's type stub)."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path
from typing import Any

import pytest

from services.shioaji import fake_objects
from services.shioaji.fake_api import FakeShioaji
from services.shioaji.fake_exchange import FakeExchange
from services.shioaji.sdk import sj
from tests.unit.shioaji.broker_harness import book, listings

SHIOAJI_METHODS = (
    "login", "logout", "activate_ca", "fetch_contracts",  # services/shioaji/session.py
    "place_order", "update_order", "cancel_order", "update_status", "list_trades",  # ShioajiBroker
    "set_order_callback", "set_session_down_callback",
    "subscribe", "set_on_tick_stk_v1_callback", "set_on_bidask_stk_v1_callback",  # the quote bridge
    "set_on_tick_fop_v1_callback", "set_on_bidask_fop_v1_callback",
)
SHIOAJI_PROPERTIES = ("contracts", "stock_account", "futopt_account")
METHODS_OF_DATA = {"dict", "keys", "copy", "from_msgpack", "to_dict"}
STUB = Path(sj.__file__).parent / "_core.pyi"


def shape(signature: inspect.Signature) -> list[tuple[str, Any, Any]]:
    """Names, kinds and defaults: what a caller depends on (the SDK's builtins carry no annotations)."""
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


@pytest.mark.parametrize("name", SHIOAJI_METHODS)
def test_fake_method_has_the_sdk_signature(name: str) -> None:
    real = inspect.signature(getattr(sj.Shioaji, name))
    fake = inspect.signature(getattr(FakeShioaji, name))
    assert shape(fake) == shape(real), f"{name}: fake {fake} but the SDK has {real}"


def test_fake_is_built_like_the_sdk_client() -> None:
    """The constructor's signature is the builtin type's text signature (its __new__ is refused in tests)."""
    namespace: dict[str, Any] = {}
    exec(f"def constructor{sj.Shioaji.__text_signature__}: pass", namespace)
    real = inspect.signature(namespace["constructor"])
    assert "simulation" in real.parameters
    assert shape(inspect.signature(FakeShioaji)) == shape(real)


@pytest.mark.parametrize("name", SHIOAJI_PROPERTIES)
def test_fake_attribute_is_a_property_like_the_sdk(name: str) -> None:
    assert inspect.isdatadescriptor(inspect.getattr_static(sj.Shioaji, name))
    assert isinstance(inspect.getattr_static(FakeShioaji, name), property)


def test_contracts_lookup_has_the_sdk_signature() -> None:
    real = sj._core.ContractCategory
    assert shape(inspect.signature(fake_objects.ContractCategory.get)) == shape(inspect.signature(real.get))
    for name in ("status", "stocks", "futures"):
        assert inspect.isdatadescriptor(inspect.getattr_static(sj.Contracts, name))
        assert isinstance(inspect.getattr_static(fake_objects.Contracts, name), property)


def data_attributes(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_") and name not in METHODS_OF_DATA
            and not callable(inspect.getattr_static(cls, name))}


@pytest.mark.parametrize("fake, real", [
    (fake_objects.Trade, sj.Trade), (fake_objects.OrderResult, sj.OrderResult),
    (fake_objects.OrderStatusInfo, sj.OrderStatusInfo), (fake_objects.Deal, sj.Deal),
])
def test_look_alike_has_exactly_the_real_attributes(fake: type, real: type) -> None:
    assert {f.name for f in dataclasses.fields(fake)} == data_attributes(real)


@pytest.mark.parametrize("fake, real", [
    (fake_objects.TickSTKv1, sj.TickSTKv1), (fake_objects.BidAskSTKv1, sj.BidAskSTKv1),
    (fake_objects.TickFOPv1, sj.TickFOPv1), (fake_objects.BidAskFOPv1, sj.BidAskFOPv1),
])
def test_quote_look_alike_attributes_are_the_real_ones(fake: type, real: type) -> None:
    """The fake quotes carry what the bridge reads, under the real names (the real ones carry more)."""
    assert {f.name for f in dataclasses.fields(fake)} <= data_attributes(real)


def test_event_message_reads_like_the_sdks_dict_like_event() -> None:
    methods = {name for name in dir(sj.OrderEventDict) if not name.startswith("_") or name in (
        "__getitem__", "__contains__", "__len__", "__iter__")}
    message = fake_objects.EventMessage({"a": 1})
    assert all(hasattr(message, name) for name in methods), methods
    assert not isinstance(message, dict)


def typed_dicts() -> dict[str, set[str]]:
    """Each TypedDict of the SDK's stub: its keys."""
    tree = ast.parse(STUB.read_text(encoding="utf-8"))
    return {node.name: {item.target.id for item in node.body if isinstance(item, ast.AnnAssign)
                        and isinstance(item.target, ast.Name)}
            for node in tree.body if isinstance(node, ast.ClassDef)
            and any(isinstance(base, ast.Name) and base.id == "TypedDict" for base in node.bases)}


def fake_events(symbol: str) -> list[tuple[Any, Any]]:
    """An order event and a deal event of the fake exchange for this symbol."""
    exchange = FakeExchange(listings(), qty_mode="reduce_by", max_deal_qty=0, wall_ns=lambda: 1_760_000_000 * 10**9)
    listing = exchange.listings[symbol]
    price = listing.contract.reference
    exchange.on_book(book(symbol, bids=[(str(price - 1), 1)], asks=[(str(price), 1)]))
    if listing.is_future:
        order = sj.FuturesOrder(action="Buy", price=price, quantity=1, price_type="LMT", time_in_force="ROD",
                                octype="Auto")
        account = sj.Account(account_type=sj.AccountType.Future, person_id="A", broker_id="F002000",
                             account_id="1", signed=True, username="u")
    else:
        order = sj.StockOrder(action="Buy", price=price, quantity=1, price_type="LMT", time_in_force="ROD",
                              order_lot="Common", order_cond="Cash", custom_field="mm1")
        account = sj.Account(account_type=sj.AccountType.Stock, person_id="A", broker_id="9A95", account_id="1",
                             signed=True, username="u")
    _, outcomes = exchange.place(listing.contract, order, account)
    return outcomes


@pytest.mark.parametrize("symbol, order_event, order_detail, contract, deal_event", [
    ("2330", "StockOrderEvent", "StockOrderDetailDict", "StockContractDict", "StockDealEvent"),
    ("TXFL6", "FuturesOrderEvent", "FuturesOrderDetailDict", "FuturesContractDict", "FuturesDealEvent"),
])
def test_fake_event_messages_have_the_sdks_keys(symbol: str, order_event: str, order_detail: str, contract: str,
                                                 deal_event: str) -> None:
    keys = typed_dicts()
    (order_state, order), (deal_state, deal) = fake_events(symbol)
    assert order_state == (sj.OrderState.FuturesOrder if symbol == "TXFL6" else sj.OrderState.StockOrder)
    assert set(order) == keys[order_event]
    assert set(order["operation"]) == keys["OperationDict"]
    assert set(order["order"]) == keys[order_detail]
    assert set(order["order"]["account"]) == keys["AccountDict"]
    assert set(order["status"]) == keys["EventOrderStatusDict"]
    assert set(order["contract"]) == keys[contract]
    assert deal_state == (sj.OrderState.FuturesDeal if symbol == "TXFL6" else sj.OrderState.StockDeal)
    assert set(deal) == keys[deal_event]


def stub_class_fields(name: str) -> set[str]:
    """The annotated attributes of a class in the installed SDK's type stub, its bases' included."""
    classes = {node.name: node for node in ast.parse(STUB.read_text(encoding="utf-8")).body
               if isinstance(node, ast.ClassDef)}
    fields: set[str] = set()
    pending = [name]
    while pending:
        node = classes[pending.pop()]
        fields |= {item.target.id for item in node.body
                   if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)}
        pending += [base.id for base in node.bases if isinstance(base, ast.Name) and base.id in classes]
    return fields


def test_stock_info_look_alike_carries_the_stubs_names() -> None:
    fake = {f.name for f in dataclasses.fields(fake_objects.StockInfo)}
    assert fake <= stub_class_fields("StockInfo")
    assert {"trading_suspended", "attention_flag", "disposition_max_lots_single_order",
            "disposition_max_lots_total_orders", "day_trade", "category"} <= fake


def test_contracts_info_has_the_sdks_v2_signature() -> None:
    real = inspect.signature(sj.ContractsApi.info)
    assert shape(inspect.signature(fake_objects.Contracts.info)) == shape(real)
