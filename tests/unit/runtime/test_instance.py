"""Instance names: a process of a service heartbeats under its service's name, or under the one
ORDERPATH_INSTANCE gives it, which must still say which service it is."""

from __future__ import annotations

import pytest

from contracts.enums import ServiceName
from services.runtime.config.loader import ConfigError
from services.runtime.instance import INSTANCE_ENV, instance_name, service_of


def test_the_service_an_instance_belongs_to_is_read_off_its_name() -> None:
    assert service_of("strategy") is ServiceName.STRATEGY
    assert service_of("strategy-2") is ServiceName.STRATEGY
    assert service_of("risk-b_1") is ServiceName.RISK
    assert service_of("strategy-ext-1") is ServiceName.STRATEGY, "an external strategy's id may hold a dash"
    for not_one in ("strategy-", "strategy2", "Strategy-2", "trader-2", "strategy-2 ", "", "-2", "strategy-a.b",
                    "strategy--2"):
        assert service_of(not_one) is None, not_one


def test_a_process_is_named_after_its_service_unless_the_environment_says_otherwise() -> None:
    assert instance_name(ServiceName.STRATEGY, {}) == "strategy"
    assert instance_name(ServiceName.STRATEGY, {INSTANCE_ENV: ""}) == "strategy"
    assert instance_name(ServiceName.STRATEGY, {INSTANCE_ENV: "strategy-2"}) == "strategy-2"


@pytest.mark.parametrize("name", ["risk-2", "strategy2", "strategy-", "runner"])
def test_a_name_that_does_not_say_its_service_is_refused_with_an_example(name: str) -> None:
    with pytest.raises(ConfigError, match=f"{INSTANCE_ENV}='{name}'.*strategy-2"):
        instance_name(ServiceName.STRATEGY, {INSTANCE_ENV: name})
