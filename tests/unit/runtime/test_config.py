"""services.runtime.config: YAML files into pydantic models, with errors naming file, field and value."""

from __future__ import annotations

import os
import re
from datetime import time
from pathlib import Path

import pytest

from contracts.enums import DayTrade, InstrumentKind, ServiceName
from contracts.prices import to_e4
from services.local_config import FAST_SIM, write_stack_config
from services.runtime.config import ConfigError, load_yaml_model
from services.runtime.config.instruments import load_instruments
from services.runtime.config.order_adapter import OrderAdapterConfig
from services.runtime.config.stack import load_stack
from services.runtime.config.strategy_limits import StrategyLimitsConfig

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "config"

ENDPOINTS = """\
endpoints:
  md: tcp://127.0.0.1:27550
  intents: tcp://127.0.0.1:27551
  orders: tcp://127.0.0.1:27552
  exec: tcp://127.0.0.1:27553
  risk: tcp://127.0.0.1:27554
  control: tcp://127.0.0.1:27555
  ops: ipc:///tmp/orderpath-ops
  exec_replay: tcp://127.0.0.1:27557
"""

STRATEGY = """\
strategies:
  - id: mm1
    class: services.strategy.strategies.quoter:Quoter
    symbols: ["2330"]
    limits:
      max_order_qty: {qty}
      max_order_notional_twd: 1000000
"""


@pytest.fixture(autouse=True)
def _no_orderpath_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own ORDERPATH_* settings must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith("ORDERPATH_"):
            monkeypatch.delenv(name)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path, model: type) -> str:
    with pytest.raises(ConfigError) as info:
        load_yaml_model(path, model)
    return str(info.value)


# --- load_yaml_model and ConfigError ------------------------------------------------------------


def test_valid_strategy_limits_file_loads(tmp_path: Path) -> None:
    config = load_yaml_model(_write(tmp_path / "limits.yaml", STRATEGY.format(qty=3)), StrategyLimitsConfig)
    entry = config.by_id()["mm1"]
    assert entry.limits.max_order_qty == 3
    assert entry.class_path == "services.strategy.strategies.quoter:Quoter"


def test_negative_max_order_qty_names_file_field_and_value(tmp_path: Path) -> None:
    path = _write(tmp_path / "strategy_limits.yaml", STRATEGY.format(qty=-3))
    message = _error(path, StrategyLimitsConfig)
    assert str(path) in message
    assert "strategies[mm1].limits.max_order_qty" in message
    assert "-3" in message
    assert "greater than 0" in message


def test_every_bad_field_is_reported(tmp_path: Path) -> None:
    text = STRATEGY.format(qty=0).replace("id: mm1", "id: 'has space'")
    message = _error(_write(tmp_path / "limits.yaml", text), StrategyLimitsConfig)
    assert "2 invalid field(s)" in message
    assert "strategies[has space].id" in message and "'has space'" in message
    assert "strategies[has space].limits.max_order_qty" in message


def test_unknown_key_is_refused_and_named(tmp_path: Path) -> None:
    text = STRATEGY.format(qty=1).replace("    symbols:", "    symbolz: [x]\n    symbols:")
    message = _error(_write(tmp_path / "limits.yaml", text), StrategyLimitsConfig)
    assert "strategies[mm1].symbolz" in message
    assert "unknown key; did you mean 'symbols'?" in message
    assert "['x']" in message


def test_missing_field_says_missing(tmp_path: Path) -> None:
    text = STRATEGY.format(qty=1).replace('    symbols: ["2330"]\n', "")
    message = _error(_write(tmp_path / "limits.yaml", text), StrategyLimitsConfig)
    assert "strategies[mm1].symbols" in message
    assert "(got missing)" in message


def test_duplicate_strategy_ids_are_refused(tmp_path: Path) -> None:
    one = STRATEGY.format(qty=1)
    text = one + one.removeprefix("strategies:\n")
    message = _error(_write(tmp_path / "limits.yaml", text), StrategyLimitsConfig)
    assert "'mm1' appears twice" in message


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    message = _error(path, StrategyLimitsConfig)
    assert str(path) in message
    assert "cannot read" in message


def test_directory_is_an_unreadable_file(tmp_path: Path) -> None:
    message = _error(tmp_path, StrategyLimitsConfig)
    assert str(tmp_path) in message and "cannot read" in message


@pytest.mark.parametrize(
    ("text", "got"), [("- a\n- b\n", "list"), ("just a string\n", "str"), ("42\n", "int")]
)
def test_non_mapping_yaml_is_refused(tmp_path: Path, text: str, got: str) -> None:
    path = _write(tmp_path / "limits.yaml", text)
    message = _error(path, StrategyLimitsConfig)
    assert str(path) in message
    assert f"expected a mapping at the top level, got {got}" in message


def test_invalid_yaml_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "limits.yaml", "strategies: [unclosed\n")
    message = _error(path, StrategyLimitsConfig)
    assert str(path) in message and "not valid YAML" in message


def test_empty_file_takes_every_default(tmp_path: Path) -> None:
    assert load_yaml_model(_write(tmp_path / "empty.yaml", ""), StrategyLimitsConfig).strategies == []
    assert load_yaml_model(_write(tmp_path / "a.yaml", "# nothing\n"), OrderAdapterConfig).sim.ack_latency_us == 200


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


# --- load_stack ---------------------------------------------------------------------------------


def test_stack_resolves_relative_paths_against_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = _write(
        tmp_path / "deploy" / "stack.yaml",
        ENDPOINTS
        + "strategy_limits_file: limits/strategies.yaml\n"
        + f"order_adapter_file: {tmp_path / 'elsewhere' / 'adapter.yaml'}\n"
        + "var_dir: ../var\n"
        + "feed:\n  replay_file: ticks/day.jsonl\n",
    )
    # The working directory is not the stack's folder: paths inside follow the file, not the cwd.
    monkeypatch.chdir(tmp_path)
    config = load_stack(Path("deploy/stack.yaml"))
    folder = stack.parent.resolve()
    assert config.strategy_limits_file == folder / "limits" / "strategies.yaml"
    assert config.order_adapter_file == tmp_path / "elsewhere" / "adapter.yaml"
    assert config.instruments_file == folder / "instruments.yaml"
    assert config.var_dir == tmp_path.resolve() / "var"
    assert config.feed.replay_file == folder / "ticks" / "day.jsonl"


@pytest.mark.parametrize(("written", "problem"), [("8:00", "quoted HH:MM"), ("'08:00+08:00'", "without a UTC offset")])
def test_the_day_rollover_is_a_quoted_taipei_time(tmp_path: Path, written: str, problem: str) -> None:
    assert load_stack(_write(tmp_path / "stack.yaml", ENDPOINTS + "risk:\n  day_rollover: '07:45'\n")) \
        .risk.day_rollover == time(7, 45)
    assert load_stack(_write(tmp_path / "default.yaml", ENDPOINTS)).risk.day_rollover == time(8, 0)
    with pytest.raises(ConfigError, match=re.escape(problem)):
        load_stack(_write(tmp_path / "bad.yaml", ENDPOINTS + f"risk:\n  day_rollover: {written}\n"))


def test_stack_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = _write(tmp_path / "s.yaml", ENDPOINTS + "heartbeat_interval_ms: 250\n")
    monkeypatch.setenv("ORDERPATH_CONFIG", str(stack))
    assert load_stack().heartbeat_interval_ms == 250


def test_environment_overrides_endpoint_and_metrics_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = _write(tmp_path / "stack.yaml", ENDPOINTS + "metrics_ports:\n  risk: 17603\n  feed: 17601\n")
    before = load_stack(stack)
    assert before.endpoints.md == "tcp://127.0.0.1:27550"
    assert before.metrics_ports[ServiceName.RISK] == 17603

    monkeypatch.setenv("ORDERPATH_MD_ENDPOINT", "tcp://feed:5550")
    monkeypatch.setenv("ORDERPATH_RISK_METRICS_PORT", "9103")
    after = load_stack(stack)
    assert after.endpoints.md == "tcp://feed:5550"
    assert after.metrics_ports[ServiceName.RISK] == 9103
    # Only what was overridden changes.
    assert after.endpoints.exec == before.endpoints.exec
    assert after.metrics_ports[ServiceName.FEED] == 17601


def test_every_endpoint_has_an_environment_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERPATH_EXEC_REPLAY_ENDPOINT", "tcp://adapter:5557")
    config = load_stack(_write(tmp_path / "stack.yaml", ENDPOINTS))
    assert config.endpoints.exec_replay == "tcp://adapter:5557"
    assert config.endpoints.exec == "tcp://127.0.0.1:27553"


def test_shipped_endpoints_are_distinct() -> None:
    endpoints = load_stack(SHIPPED / "stack.yaml").endpoints.model_dump()
    assert endpoints["exec_replay"] == "tcp://127.0.0.1:17557"
    assert len(set(endpoints.values())) == len(endpoints)


def test_environment_adds_a_metrics_port_not_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERPATH_CONTROL_METRICS_PORT", "9105")
    config = load_stack(_write(tmp_path / "stack.yaml", ENDPOINTS))
    assert config.metrics_ports == {ServiceName.CONTROL: 9105}


def test_non_numeric_metrics_port_from_environment_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERPATH_RISK_METRICS_PORT", "ninety")
    with pytest.raises(ConfigError, match=r"ORDERPATH_RISK_METRICS_PORT.*'ninety'"):
        load_stack(_write(tmp_path / "stack.yaml", ENDPOINTS))


def test_out_of_range_metrics_port_from_environment_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERPATH_RISK_METRICS_PORT", "70000")
    with pytest.raises(ConfigError, match="70000"):
        load_stack(_write(tmp_path / "stack.yaml", ENDPOINTS))


def test_out_of_range_metrics_port_in_file_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "stack.yaml", ENDPOINTS + "metrics_ports:\n  risk: 70000\n")
    with pytest.raises(ConfigError, match=r"metrics_ports.*outside 0\.\.65535"):
        load_stack(path)


@pytest.mark.parametrize("scheme", ["http://127.0.0.1:1", "127.0.0.1:17550", "udp://x:1"])
def test_bad_endpoint_scheme_in_file_is_refused(tmp_path: Path, scheme: str) -> None:
    path = _write(tmp_path / "stack.yaml", ENDPOINTS.replace("tcp://127.0.0.1:27551", scheme))
    with pytest.raises(ConfigError) as info:
        load_stack(path)
    message = str(info.value)
    assert str(path) in message
    assert "endpoints.intents" in message
    assert "tcp://, ipc:// or inproc://" in message
    assert repr(scheme) in message


def test_bad_endpoint_scheme_from_environment_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERPATH_MD_ENDPOINT", "http://feed:5550")
    with pytest.raises(ValueError, match="tcp://, ipc:// or inproc://"):
        load_stack(_write(tmp_path / "stack.yaml", ENDPOINTS))


def test_bad_endpoint_scheme_from_environment_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERPATH_MD_ENDPOINT", "http://feed:5550")
    with pytest.raises(ConfigError, match="ORDERPATH_MD_ENDPOINT"):
        load_stack(_write(tmp_path / "stack.yaml", ENDPOINTS))


# --- load_instruments ---------------------------------------------------------------------------


def test_instruments_get_their_daily_limits(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "instruments.yaml",
        """\
instruments:
  - {symbol: "2330", reference: "1000"}
  - {symbol: "1101", reference: "13.55"}
  - {symbol: "2603", reference: "185", limit_up: "203", limit_down: "167"}
  - {symbol: "TXFL6", kind: future, reference: "23000", tick: "1", unit: 200}
""",
    )
    refs = load_instruments(path)
    assert list(refs) == ["2330", "1101", "2603", "TXFL6"]
    tsmc = refs["2330"]
    assert tsmc.kind is InstrumentKind.STOCK
    assert (tsmc.reference_e4, tsmc.limit_down_e4, tsmc.limit_up_e4) == (to_e4("1000"), to_e4("900"), to_e4("1100"))
    assert tsmc.unit == 1000 and tsmc.tick_e4 == 0
    assert (refs["1101"].limit_down_e4, refs["1101"].limit_up_e4) == (to_e4("12.2"), to_e4("14.9"))
    assert (refs["2603"].limit_down_e4, refs["2603"].limit_up_e4) == (to_e4("167"), to_e4("203"))
    future = refs["TXFL6"]
    assert future.kind is InstrumentKind.FUTURE
    assert (future.limit_down_e4, future.limit_up_e4) == (to_e4("20700"), to_e4("25300"))
    assert (future.tick_e4, future.unit) == (to_e4("1"), 200)


def test_future_without_tick_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "instruments.yaml", 'instruments:\n  - {symbol: GDFL6, kind: future, reference: "2300"}\n')
    with pytest.raises(ConfigError) as info:
        load_instruments(path)
    message = str(info.value)
    assert str(path) in message and "instruments[GDFL6]" in message
    assert "a future needs its tick size" in message


@pytest.mark.parametrize(("symbol", "unit"), [("TXFL6", 200), ("MXFL6", 50)])
def test_an_index_future_takes_its_tick_and_point_value(tmp_path: Path, symbol: str, unit: int) -> None:
    path = _write(tmp_path / "instruments.yaml",
                  f'instruments:\n  - {{symbol: {symbol}, kind: future, reference: "23000"}}\n')
    future = load_instruments(path)[symbol]
    assert (future.tick_e4, future.unit) == (to_e4("1"), unit)
    assert (future.limit_down_e4, future.limit_up_e4) == (to_e4("20700"), to_e4("25300"))


def test_an_index_future_with_another_point_value_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "instruments.yaml",
                  'instruments:\n  - {symbol: MXFL6, kind: future, reference: "23000", unit: 200}\n')
    with pytest.raises(ConfigError, match="MXF is 50 TWD a point, not 200"):
        load_instruments(path)


def test_an_etf_takes_the_etf_ladder(tmp_path: Path) -> None:
    path = _write(tmp_path / "instruments.yaml", 'instruments:\n  - {symbol: "0050", kind: etf, reference: "200.65"}\n'
                                                 '  - {symbol: "00878", kind: etf, reference: "49.99"}\n')
    refs = load_instruments(path)
    assert (refs["0050"].limit_down_e4, refs["0050"].limit_up_e4) == (to_e4("180.6"), to_e4("220.7"))
    assert refs["0050"].kind is InstrumentKind.ETF and refs["0050"].unit == 1000
    assert (refs["00878"].limit_down_e4, refs["00878"].limit_up_e4) == (to_e4("45"), to_e4("54.95"))


def test_the_regulators_state_can_be_set_for_the_simulator(tmp_path: Path) -> None:
    path = _write(tmp_path / "instruments.yaml", 'instruments:\n'
                  '  - {symbol: "2330", reference: "1000", day_trade: no, attention_flag: true, disposition_level: 1,\n'
                  '     disposition_match_interval_min: 5, disposition_max_lots_single_order: 10,\n'
                  '     disposition_max_lots_total_orders: 30, disposition_prepay_ratio: 1}\n'
                  '  - {symbol: "2317", reference: "200", day_trade: only_buy, trading_suspended: true}\n'
                  '  - {symbol: "2454", reference: "1300"}\n')
    refs = load_instruments(path)
    tsmc = refs["2330"]
    assert (tsmc.day_trade, tsmc.attention_flag, tsmc.disposition_level) == (DayTrade.NO, True, 1)
    assert (tsmc.disposition_match_interval_min, tsmc.disposition_max_lots_single_order,
            tsmc.disposition_max_lots_total_orders, tsmc.disposition_prepay_ratio) == (5, 10, 30, 1.0)
    assert refs["2317"].day_trade is DayTrade.ONLY_BUY and refs["2317"].trading_suspended
    plain = refs["2454"]
    assert plain.day_trade is None and not plain.trading_suspended and plain.disposition_max_lots_total_orders == 0


def test_a_warrant_without_its_limits_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "instruments.yaml",
                  'instruments:\n  - {symbol: "030001", kind: warrant, reference: "1.5"}\n')
    with pytest.raises(ConfigError, match="limits follow its underlying"):
        load_instruments(path)
    path.write_text('instruments:\n  - {symbol: "030001", kind: warrant, reference: "1.5", limit_up: "2.1", '
                    'limit_down: "0.9"}\n', encoding="utf-8")
    assert load_instruments(path)["030001"].limit_up_e4 == to_e4("2.1")


@pytest.mark.parametrize("reference", ["10.01", "50.05", "100.2", "1001"])
def test_reference_off_the_ladder_is_refused(tmp_path: Path, reference: str) -> None:
    path = _write(tmp_path / "instruments.yaml", f'instruments:\n  - {{symbol: "9999", reference: "{reference}"}}\n')
    with pytest.raises(ConfigError) as info:
        load_instruments(path)
    message = str(info.value)
    assert str(path) in message and "instruments[9999]" in message
    assert f"reference {reference} is not a legal price for 9999" in message


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ('{symbol: "1", reference: "-5"}', "instruments[1].reference"),
        ('{symbol: "1", reference: "0"}', "instruments[1].reference"),
        ('{symbol: "1", reference: "10", unit: 0}', "instruments[1].unit"),
        ('{symbol: "1", reference: "10", kind: option}', "instruments[1].kind"),
    ],
)
def test_bad_instrument_fields_are_named(tmp_path: Path, entry: str, field: str) -> None:
    path = _write(tmp_path / "instruments.yaml", f"instruments:\n  - {entry}\n")
    with pytest.raises(ConfigError, match=re.escape(field)):
        load_instruments(path)


def test_empty_instrument_list_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="instruments"):
        load_instruments(_write(tmp_path / "instruments.yaml", "instruments: []\n"))


# --- the shipped files --------------------------------------------------------------------------


def test_shipped_config_files_all_load() -> None:
    stack = load_stack(SHIPPED / "stack.yaml")
    assert stack.strategy_limits_file == SHIPPED.resolve() / "strategy_limits.yaml"
    assert set(stack.metrics_ports) == set(ServiceName)

    limits = load_yaml_model(stack.strategy_limits_file, StrategyLimitsConfig)
    assert limits.strategies, "no strategy configured"
    adapter = load_yaml_model(stack.order_adapter_file, OrderAdapterConfig)
    assert adapter.broker == "sim"
    instruments = load_instruments(stack.instruments_file)
    assert instruments["2330"].limit_up_e4 == to_e4("1100")

    for symbol in stack.feed.symbols:
        assert symbol in instruments, f"feed symbol {symbol} has no reference data"
    for strategy in limits.strategies:
        for symbol in strategy.symbols:
            assert symbol in instruments, f"{strategy.id} trades {symbol}, which has no reference data"


def test_the_shipped_simulator_answers_as_slowly_as_the_broker_and_the_tests_run_it_fast(tmp_path: Path) -> None:
    """`orderpath up` must meet coalescing, in-flight cancels and timeouts: an ack in tens of ms, a tail, and
    some answers later than the adapter's timeouts; what the e2e tests and benches run answers in 1 ms."""
    adapter = load_yaml_model(SHIPPED / "order_adapter.yaml", OrderAdapterConfig)
    sim = adapter.sim
    assert sim.ack_latency_us >= 10_000 and sim.latency_jitter_us > 0
    assert sim.tail_rate > 0 and sim.tail_latency_us > sim.ack_latency_us + sim.latency_jitter_us
    assert sim.timeout_rate > 0 and sim.late_answer_ms > adapter.timeouts.new_ms
    assert (sim.ack_latency_us + sim.latency_jitter_us) / 1000 > adapter.coalesce_window_ms
    pinned = load_yaml_model(write_stack_config(tmp_path, strategies=[]).with_name("order_adapter.yaml"),
                             OrderAdapterConfig)
    assert pinned.sim == sim.model_copy(update=FAST_SIM), "only the simulator's latency is pinned"
    assert pinned.sim.ack_latency_us == 1000 and pinned.sim.timeout_rate == 0 and pinned.sim.tail_rate == 0
    assert pinned.model_copy(update={"sim": sim}) == adapter


def test_every_shipped_yaml_file_is_the_stack_or_named_by_it() -> None:
    """So the test above loads every file under config/: none is dead or unchecked."""
    stack = load_stack(SHIPPED / "stack.yaml")
    named = {stack.strategy_limits_file, stack.order_adapter_file, stack.instruments_file}
    for path in SHIPPED.glob("*.yaml"):
        assert path.name == "stack.yaml" or path.resolve() in named, f"{path} is not loaded by anything"
