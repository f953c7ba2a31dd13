"""order_adapter.yaml's `shioaji:` section: the desk's Shioaji session, its orders, and the fake.

The adapter (ShioajiBroker) and the feed's quote bridge both log in with it. `simulation` has no
default on purpose: a config that forgets it must not send live orders. The keys never appear in a
file: the file names the environment variables that hold them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from services.runtime.config.stack import Strict

QtyMode = Literal["reduce_by", "new_total"]


class FakeShioajiConfig(Strict):
    """The stand-in for SinoPac's servers (`--broker fake-shioaji`, `feed.source: fake-shioaji`, tests)."""

    ack_latency_ms: float = Field(1.0, ge=0, description="delay before the fake server answers a call")
    max_deal_qty: int = Field(0, ge=0, description="split a fill into deals of at most this many lots "
                                                    "(0: one deal per book level)")
    rate_cap: int = Field(250, gt=0, description="order calls (place, update, cancel, update_status) per window")
    rate_window_ms: int = Field(10_000, gt=0)
    suspension_ms: int = Field(60_000, ge=0, description="how long the account is refused after the cap is broken")
    qty_mode: QtyMode = Field("reduce_by", description="how the fake server reads update_order(qty=)")


class ShioajiConfig(Strict):
    """One login to Shioaji (paper or live, where the credentials are) and how orders are built."""

    simulation: bool = Field(description="true: SinoPac's paper server; false: live orders (needs the CA). "
                                         "Required: there is no default")
    api_key_env: str = Field("SJ_API_KEY", min_length=1)
    secret_key_env: str = Field("SJ_SECRET_KEY", min_length=1)
    ca_path_env: str = Field("SJ_CA_PATH", min_length=1, description="live only: the .pfx certificate")
    ca_password_env: str = Field("SJ_CA_PASSWORD", min_length=1, description="live only")
    person_id_env: str = Field("SJ_PERSON_ID", min_length=1, description="live only: the CA's person id")
    login_timeout_ms: int = Field(30_000, gt=0, description="contract download after login")
    fake: FakeShioajiConfig = FakeShioajiConfig()
    stock_account_id: str | None = Field(None, description="the stock account to trade (default: Shioaji's "
                                                           "default stock account)")
    futures_account_id: str | None = Field(None, description="the futures account (default: Shioaji's default)")
    qty_mode: QtyMode = Field("reduce_by", description="what update_order(qty=) means: the lots taken off the "
                                                       "order, or the order's new total (the docs disagree)")
    order_cond: Literal["Cash", "MarginTrading", "ShortSelling"] = "Cash"
    octype: Literal["Auto", "New", "Cover", "DayTrade"] = "Auto"
    order_ids_file: Path = Field(Path("shioaji-order-ids.sqlite"),
                                 description="client order id ↔ Shioaji trade id, so a restarted adapter "
                                             "recognises its orders (relative: under var_dir)")
    status_timeout_ms: int = Field(10_000, gt=0, description="the blocking update_status at start-up")
