"""Which strategies one runner hosts: all of the desk's, or those ORDERPATH_STRATEGY_IDS names."""

from __future__ import annotations

import pytest

from services.runtime.config.strategy_limits import StrategyLimitsConfig
from services.strategy.service import UnknownStrategies, hosted_entries

LIMITS = StrategyLimitsConfig.model_validate({"strategies": [
    {"id": sid, "class": "services.strategy.strategies.quoter:Quoter", "symbols": ["2330"]}
    for sid in ("mm1", "mo1", "rest1")
]})


def test_without_the_variable_a_runner_hosts_every_strategy() -> None:
    assert [entry.id for entry in hosted_entries(LIMITS, {})] == ["mm1", "mo1", "rest1"]


def test_the_variable_picks_this_runners_strategies_in_its_order() -> None:
    assert [entry.id for entry in hosted_entries(LIMITS, {"ORDERPATH_STRATEGY_IDS": "rest1, mm1"})] == [
        "rest1", "mm1"]


def test_an_unknown_id_is_refused_with_the_known_ones() -> None:
    with pytest.raises(UnknownStrategies, match=r"names mm2, .*known: mm1, mo1, rest1"):
        hosted_entries(LIMITS, {"ORDERPATH_STRATEGY_IDS": "mm1,mm2"})


WITH_EXTERNAL = StrategyLimitsConfig.model_validate({"strategies": [
    {"id": "mm1", "class": "services.strategy.strategies.quoter:Quoter", "symbols": ["2330"]},
    {"id": "ext1", "symbols": ["2330"], "publish_approvals": True},
]})


def test_an_entry_without_a_class_is_external_and_never_hosted() -> None:
    external = WITH_EXTERNAL.by_id()["ext1"]
    assert external.external and external.class_path is None and external.publish_approvals
    assert not WITH_EXTERNAL.by_id()["mm1"].external
    assert [entry.id for entry in hosted_entries(WITH_EXTERNAL, {})] == ["mm1"]


def test_the_variable_may_not_name_an_external_strategy() -> None:
    with pytest.raises(UnknownStrategies, match=r"names ext1, external"):
        hosted_entries(WITH_EXTERNAL, {"ORDERPATH_STRATEGY_IDS": "mm1,ext1"})
