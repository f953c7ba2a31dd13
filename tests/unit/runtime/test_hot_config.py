"""HotConfig: a service brought to the config version control's state names, or refusing it with the reason."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import structlog
import yaml
from prometheus_client import CollectorRegistry
from structlog.testing import LogCapture

from contracts.enums import StormGuardLevel
from contracts.messages import ControlReply, StormGuardState
from services.runtime.config.strategy_limits import StrategyLimitsConfig
from services.runtime.hot_config import ConfigVersions, HotConfig, Versioned, version_of

STRATEGY = {"id": "mm1", "class": "services.strategy.strategies.quoter:Quoter", "symbols": ["2330"]}


def text(budget_us: int) -> str:
    return yaml.safe_dump({"strategies": [{**STRATEGY, "budget_us": budget_us}]})


def state(seq: int, **versions: str) -> StormGuardState:
    return StormGuardState(seq=seq, global_level=StormGuardLevel.NORMAL, config_versions=versions, ts_ns=0)


class Harness:
    def __init__(self) -> None:
        self.capture = LogCapture()
        log = structlog.wrap_logger(structlog.ReturnLogger(), processors=[self.capture],
                                    wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
        self.registry = CollectorRegistry()
        self.requests: list[tuple[dict[str, str], Callable[[ControlReply], None]]] = []
        self.applied: list[int] = []
        self.hot = HotConfig(ConfigVersions(self.registry), self._request, log)
        loaded = Versioned(StrategyLimitsConfig.model_validate(yaml.safe_load(text(500))), version_of(text(500)),
                           text(500))
        self.hot.follow("strategy_limits", Path("strategy_limits.yaml"), StrategyLimitsConfig, loaded, self._apply)

    def _request(self, verb: str, args: dict[str, str], on_reply: Callable[[ControlReply], None]) -> bool:
        assert verb == "config_get"
        self.requests.append((args, on_reply))
        return True

    def _apply(self, limits: StrategyLimitsConfig) -> list[str]:
        self.applied.append(limits.strategies[0].budget_us)
        return []

    def answer(self, body_text: str) -> None:
        args, on_reply = self.requests[-1]
        on_reply(ControlReply(request_id="r", ok=True, body={"file": args["file"], "version": args["version"],
                                                             "text": body_text}))

    def running(self, version: str) -> float | None:
        return self.registry.get_sample_value("config_version_info", {"file": "strategy_limits", "version": version})

    def events(self, name: str) -> list[dict]:
        return [e for e in self.capture.entries if e["event"] == name]


def test_the_version_loaded_at_start_is_reported_and_nothing_is_asked_while_control_agrees() -> None:
    h = Harness()
    assert h.running(version_of(text(500))) == 1
    h.hot.on_state(state(1, strategy_limits=version_of(text(500))))
    h.hot.on_state(state(2))
    assert h.requests == []


def test_a_new_version_is_fetched_validated_applied_and_reported() -> None:
    h = Harness()
    new = version_of(text(900))
    h.hot.on_state(state(3, strategy_limits=new))
    h.hot.on_state(state(4, strategy_limits=new))
    assert [args for args, _ in h.requests] == [{"file": "strategy_limits", "version": new}], "asked once"
    h.answer(text(900))
    assert h.applied == [900]
    assert h.running(new) == 1 and h.running(version_of(text(500))) is None
    assert h.events("config_applied")[0]["previous"] == version_of(text(500))


def test_a_text_that_is_not_its_version_or_not_valid_here_is_refused_once() -> None:
    h = Harness()
    h.hot.on_state(state(3, strategy_limits=version_of(text(900))))
    h.answer(text(901))
    assert h.applied == [] and "does not hash" in h.events("config_refused")[0]["reason"]
    bad = text(-1)
    h.hot.on_state(state(4, strategy_limits=version_of(bad)))
    h.answer(bad)
    refused = h.events("config_refused")[1]
    assert "budget_us" in refused["reason"] and refused["running"] == version_of(text(500))
    h.hot.on_state(state(5, strategy_limits=version_of(bad)))
    assert len(h.requests) == 2, "a version refused here is not asked for again"


def test_a_file_read_only_at_start_says_once_that_it_needs_a_restart(tmp_path: Path) -> None:
    h = Harness()
    adapter_file = tmp_path / "order_adapter.yaml"
    adapter_file.write_text("broker: sim\n")
    h.hot.report("order_adapter", adapter_file)
    h.hot.on_state(state(1, order_adapter=version_of("broker: sim\n")))
    assert h.events("config_needs_restart") == []
    h.hot.on_state(state(2, order_adapter="0123456789ab"))
    h.hot.on_state(state(3, order_adapter="0123456789ab"))
    assert len(h.events("config_needs_restart")) == 1 and h.requests == []
