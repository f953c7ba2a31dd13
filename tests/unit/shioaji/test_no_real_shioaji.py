"""No test builds the real Shioaji client or logs in to SinoPac: tests/conftest.py makes both raise."""

from __future__ import annotations

import pytest

from services.shioaji.sdk import sj
from tests.conftest import RealShioajiInTest


def test_building_the_real_client_raises() -> None:
    with pytest.raises(RealShioajiInTest):
        sj.Shioaji(simulation=True)


def test_logging_in_with_the_real_client_raises() -> None:
    with pytest.raises(RealShioajiInTest):
        sj.Shioaji.login(object(), api_key="key", secret_key="secret")


def test_the_real_classes_used_offline_still_build() -> None:
    order = sj.StockOrder(action="Buy", price=10.0, quantity=1, price_type="LMT", time_in_force="ROD")
    assert order.quantity == 1 and sj.Stock(exchange="TSE", code="2330").code == "2330"
