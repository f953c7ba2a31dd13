"""FakeShioaji: a stand-in for sj.Shioaji, for tests and for `orderpath up --broker fake-shioaji`.

Every method the adapter and the quote bridge call has the SDK's name and signature (positional
`self`, keyword-only `trade=` on update_status, timeouts in milliseconds, `cb=`), checked against
the installed SDK by tests/unit/shioaji/test_fidelity.py. It takes and returns the SDK's own enums,
orders, contracts and accounts; Trade and the event messages are look-alikes (fake_objects.py),
because Python cannot build the real ones. Behind it, FakeSinopac (fake_server.py) plays SinoPac's
servers: every answer comes from that server's own thread.

`timeout=0` returns at once: the Trade of a new order then has no id, seqno or ordno yet (status
Inactive), and `cb` gets the complete one later. A positive timeout waits for the server's answer
and raises ShioajiTimeoutError when it is late (the order may still go live). Before `login` every
call raises AuthError.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.shioaji.fake_exchange import result_of
from services.shioaji.fake_objects import Contracts, OrderStatusInfo, Trade
from services.shioaji.fake_server import FakeSinopac, InjectedFailure, Ticket
from services.shioaji.sdk import sj


class FakeShioaji:
    def __init__(self, simulation: bool | None = None, proxy: str | None = None, vpn: bool | None = None) -> None:
        self.simulation = simulation
        self._server: FakeSinopac | None = None
        self._logged_in = False

    @classmethod
    def connected_to(cls, server: FakeSinopac, *, simulation: bool | None) -> FakeShioaji:
        """A client of this fake server, built as the SDK's constructor would be (`simulation=` passed on)."""
        api = cls(simulation=simulation)
        api._server = server
        return api

    # -- session

    def login(self, /, api_key: str, secret_key: str, subscribe_trade: bool = True, receive_window: int = 30000,
              force_refresh: bool = False) -> list[Any]:
        if self._server is None:
            raise sj.ShioajiConnectionError("no server to log in to (use FakeShioaji.connected_to)")
        if not api_key or not secret_key:
            raise sj.TokenError("api_key and secret_key are required")
        self._logged_in = True
        return [self._server.stock_account, self._server.futures_account]

    def logout(self, /) -> None:
        self._logged_in = False

    def activate_ca(self, /, ca_path: str, ca_passwd: str, person_id: str | None = None) -> bool:
        self._session()
        return True

    @property
    def stock_account(self) -> Any:
        return self._session().stock_account

    @property
    def futopt_account(self) -> Any:
        return self._session().futures_account

    @property
    def contracts(self) -> Contracts:
        return self._session().contracts

    def fetch_contracts(self, /, contract_download: bool | None = False, contracts_timeout: int | None = 30000,
                        contracts_cb: Callable[[Any], None] | None = None) -> Contracts:
        return self._session().contracts

    # -- orders

    def place_order(self, /, contract: Any, order: Any, timeout: int | None = 30000,
                    cb: Callable[[Any], None] | None = None) -> Any:
        server = self._session()
        if not isinstance(order, sj.StockOrder | sj.FuturesOrder):
            raise sj.ShioajiTypeError(f"expected StockOrder or FuturesOrder, got {type(order).__name__}")
        account = order.account or (server.futures_account if isinstance(order, sj.FuturesOrder)
                                    else server.stock_account)
        failure = server.admit_order_call()
        ticket = server.place(contract, order, account, None if failure else cb)
        placeholder = Trade(contract, result_of(order, account, "", "", "", order.price), OrderStatusInfo(
            id="", status=sj.OrderStatus.Inactive, status_code=None, web_id=None, order_datetime=None, msg=None,
            modified_time=None, modified_price=None, order_quantity=None, deal_quantity=None, cancel_quantity=None,
            deals=()))
        return self._answer(server, ticket, failure, timeout, placeholder)

    def update_order(self, /, trade: Any, price: float | None = None, qty: int | None = None,
                     timeout: int | None = 30000, cb: Callable[[Any], None] | None = None) -> Any:
        server = self._session()
        if (price is None) == (qty is None):
            raise sj.ShioajiValueError("update_order takes exactly one of price and qty")
        trade_id = self._known(server, trade)
        failure = server.admit_order_call()
        ticket = server.update(trade_id, price, qty, None if failure else cb)
        return self._answer(server, ticket, failure, timeout, trade)

    def cancel_order(self, /, trade: Any, timeout: int | None = 30000, cb: Callable[[Any], None] | None = None) -> Any:
        server = self._session()
        trade_id = self._known(server, trade)
        failure = server.admit_order_call()
        ticket = server.cancel(trade_id, None if failure else cb)
        return self._answer(server, ticket, failure, timeout, trade)

    def update_status(self, /, account: Any = None, *, trade: Any = None, timeout: int | None = 30000,
                      cb: Callable[[list[Any]], None] | None = None) -> None:
        server = self._session()
        trade_id = self._known(server, trade) if trade is not None else None
        failure = server.admit_order_call()
        ticket = server.status(trade_id, None if failure else cb)
        self._answer(server, ticket, failure, timeout, None)

    def list_trades(self, /) -> list[Any]:
        return self._session().trades()

    def set_order_callback(self, /, callback: Callable[[Any, Any], None]) -> None:
        self._server_of().callbacks.order = callback

    def set_session_down_callback(self, /, callback: Callable[[], None]) -> None:
        self._server_of().callbacks.session_down = callback

    # -- quotes

    def subscribe(self, /, contract: Any, quote_type: Any = None, intraday_odd: bool = False, version: Any = None,
                  *, ranking: Any = None, projection: Any = None) -> None:
        kind = quote_type if isinstance(quote_type, sj.QuoteType) else sj.QuoteType(quote_type or "tick")
        self._session().subscribe(contract.code, kind.value)

    def set_on_tick_stk_v1_callback(self, /, callback: Callable[[Any], None], bind: bool = False) -> None:
        self._server_of().callbacks.tick = callback

    def set_on_bidask_stk_v1_callback(self, /, callback: Callable[[Any], None], bind: bool = False) -> None:
        self._server_of().callbacks.bidask = callback

    def set_on_tick_fop_v1_callback(self, /, callback: Callable[[Any], None], bind: bool = False) -> None:
        self._server_of().callbacks.tick_fop = callback

    def set_on_bidask_fop_v1_callback(self, /, callback: Callable[[Any], None], bind: bool = False) -> None:
        self._server_of().callbacks.bidask_fop = callback

    # -- helpers

    def _server_of(self) -> FakeSinopac:
        if self._server is None:
            raise sj.ShioajiConnectionError("no server (use FakeShioaji.connected_to)")
        return self._server

    def _session(self) -> FakeSinopac:
        if not self._logged_in:
            raise sj.AuthError("not logged in: call login() first")
        return self._server_of()

    @staticmethod
    def _known(server: FakeSinopac, trade: Any) -> str:
        trade_id = trade.order.id
        if not trade_id or not server.knows(trade_id):
            raise sj.ShioajiValueError(f"no order with id {trade_id!r} in this session")
        return trade_id

    @staticmethod
    def _answer(server: FakeSinopac, ticket: Ticket, failure: InjectedFailure | None, timeout: int | None,
                immediate: Any) -> Any:
        """Raise the injected failure, or return at once (timeout 0), or wait for the server's answer."""
        if failure is not None:
            raise failure.error
        if not timeout:
            return immediate
        if not ticket.done.wait(timeout / 1000):
            raise sj.ShioajiTimeoutError(f"no answer from the server within {timeout} ms")
        return server.trade(ticket.trade_id) if ticket.trade_id else None
