"""services.adapter.brokers.factory: config (or ORDERPATH_ADAPTER_BROKER) picks the broker; Shioaji needs
its section, the fake does not."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog

from contracts.enums import ServiceName
from services.adapter.brokers.factory import BROKER_ENV, chosen_broker, make_broker
from services.adapter.brokers.shioaji_broker import ShioajiBroker
from services.local_config import write_stack_config
from services.runtime.config.loader import ConfigError
from services.runtime.config.order_adapter import OrderAdapterConfig
from services.runtime.config.stack import load_stack
from services.runtime.service import ServiceRuntime


def test_the_environment_overrides_the_files_broker() -> None:
    config = OrderAdapterConfig()
    assert chosen_broker(config, {}) == "sim"
    assert chosen_broker(config, {BROKER_ENV: "fake-shioaji"}) == "fake-shioaji"
    assert chosen_broker(OrderAdapterConfig(broker="shioaji", shioaji={"simulation": True}), {}) == "shioaji"
    with pytest.raises(ConfigError, match="ORDERPATH_ADAPTER_BROKER='ib': expected one of sim, shioaji"):
        chosen_broker(config, {BROKER_ENV: "ib"})


def runtime(tmp_path: Path) -> ServiceRuntime:
    stack = load_stack(write_stack_config(tmp_path, strategies=[], curve_ops=False), environ={})  # no control here
    return ServiceRuntime(ServiceName.ADAPTER, stack, log=structlog.get_logger())


def test_shioaji_without_its_section_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rt = runtime(tmp_path)
    monkeypatch.setenv(BROKER_ENV, "shioaji")
    try:
        with pytest.raises(ConfigError, match="broker shioaji needs a shioaji: section with simulation: true"):
            make_broker(OrderAdapterConfig(), rt.stack, rt)
    finally:
        rt.loop.close()
        rt.context.destroy(linger=0)


def test_the_fake_broker_is_a_shioaji_broker_fed_by_the_md_stream(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    rt = runtime(tmp_path)
    monkeypatch.setenv(BROKER_ENV, "fake-shioaji")
    try:
        setup = make_broker(OrderAdapterConfig(), rt.stack, rt)
        assert isinstance(setup.broker, ShioajiBroker)
        assert setup.on_market is not None
        assert setup.broker.open_orders() == []
        setup.close()
        assert (tmp_path / "var" / "shioaji-order-ids.sqlite").is_file()
    finally:
        rt.loop.close()
        rt.context.destroy(linger=0)
