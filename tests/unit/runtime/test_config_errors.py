"""Config errors a person can act on: the file, the strategy by its id, the field, the value given and
what is allowed, for every way a file goes wrong; and `orderpath config check` / `up` saying so on the
terminal before anything is spawned."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.runtime.config import ConfigError, load_yaml_model
from services.runtime.config.strategy_limits import StrategyLimitsConfig

REPO = Path(__file__).resolve().parents[3]
SHIPPED_LIMITS = (REPO / "config/strategy_limits.yaml").read_text(encoding="utf-8")


def refusal(tmp_path: Path, text: str | bytes) -> str:
    path = tmp_path / "strategy_limits.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_yaml_model(path, StrategyLimitsConfig)
    message = str(caught.value)
    assert message.startswith(str(path))
    return message


def second_strategy(field: str, value: str) -> str:
    """The shipped file with `field` of the second strategy (mo1) set to `value`."""
    head, mo1 = SHIPPED_LIMITS.split("  - id: mo1", 1)
    assert f"      {field}:" in mo1
    lines = [f"      {field}: {value}" if line.startswith(f"      {field}:") else line for line in mo1.splitlines()]
    return head + "  - id: mo1" + "\n".join(lines) + "\n"


def test_a_wrong_type_names_the_strategy_by_id_with_the_value(tmp_path: Path) -> None:
    message = refusal(tmp_path, second_strategy("max_order_qty", "lots"))
    assert "strategies[mo1].limits.max_order_qty" in message
    assert "'lots'" in message and "valid integer" in message
    assert "strategies.1" not in message


def test_a_negative_limit_says_what_is_allowed(tmp_path: Path) -> None:
    message = refusal(tmp_path, second_strategy("max_position_qty", "-5"))
    assert "strategies[mo1].limits.max_position_qty: Input should be greater than 0 (got -5)" in message


def test_an_unknown_key_suggests_the_nearest_known_one(tmp_path: Path) -> None:
    text = SHIPPED_LIMITS.replace("  - id: mo1\n", "  - id: mo1\n    symbolz: [\"2330\"]\n", 1)
    message = refusal(tmp_path, text)
    assert "strategies[mo1].symbolz: unknown key; did you mean 'symbols'? (got ['2330'])" in message


def test_an_unknown_key_with_nothing_near_lists_the_known_ones(tmp_path: Path) -> None:
    message = refusal(tmp_path, SHIPPED_LIMITS + "zzz_q: 1\n")
    assert "zzz_q: unknown key; known keys here: " in message and "strategies" in message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"absent\.yaml: cannot read: No such file"):
        load_yaml_model(tmp_path / "absent.yaml", StrategyLimitsConfig)


def test_a_yaml_syntax_error_gives_its_line(tmp_path: Path) -> None:
    lines = SHIPPED_LIMITS.splitlines()
    lines.insert(5, "  rate_window_ms: [1000")
    message = refusal(tmp_path, "\n".join(lines) + "\n")
    assert "not valid YAML: line " in message
    line = int(message.split("line ", 1)[1].split(",", 1)[0])
    assert 6 <= line <= 8, message


def test_a_file_that_is_not_utf8_names_the_byte_and_line(tmp_path: Path) -> None:
    big5 = "# 策略\n".encode("big5") + SHIPPED_LIMITS.encode("utf-8")
    message = refusal(tmp_path, big5)
    assert "not UTF-8 text" in message and "line 1" in message and "save the file as UTF-8" in message


def broken_stack(tmp_path: Path) -> Path:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    (config / "strategy_limits.yaml").write_text(second_strategy("max_order_qty", "lots"), encoding="utf-8")
    return config / "stack.yaml"


def test_config_check_exits_2_with_each_problem_and_0_when_valid(tmp_path: Path) -> None:
    refused = CliRunner().invoke(app, ["config", "check", "--config", str(broken_stack(tmp_path))])
    assert refused.exit_code == 2
    assert "strategies[mo1].limits.max_order_qty" in refused.output and "'lots'" in refused.output
    valid = CliRunner().invoke(app, ["config", "check", "--config", str(REPO / "config/stack.yaml")])
    assert valid.exit_code == 0, valid.output
    assert "strategy_limits.yaml" in valid.output


def test_up_on_a_broken_config_says_why_and_spawns_nothing(tmp_path: Path) -> None:
    stack = broken_stack(tmp_path)
    result = CliRunner().invoke(app, ["up", "--config", str(stack), "--duration", "1"])
    assert result.exit_code == 2
    assert "strategies[mo1].limits.max_order_qty" in result.output
    assert "nothing was started" in result.output
    assert not (tmp_path / "var" / "log").exists(), "no service was spawned, so none wrote a log"
