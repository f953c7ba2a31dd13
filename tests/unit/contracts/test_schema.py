"""contracts/schema.json is what contracts.schema generates now, and it describes every wire message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contracts import schema
from contracts.messages import SCHEMA_VERSION, WIRE_MESSAGES

TAGS = [message_type.__struct_config__.tag for message_type in WIRE_MESSAGES]


@pytest.fixture(scope="module")
def committed() -> dict:
    return json.loads(schema.SCHEMA_FILE.read_text(encoding="utf-8"))


def test_committed_schema_is_up_to_date() -> None:
    """If this fails, contracts/messages.py changed: run `python -m contracts.schema` and commit the file."""
    assert schema.SCHEMA_FILE.read_text(encoding="utf-8") == schema.render(), schema.check()
    assert schema.check() is None


def test_render_is_deterministic_and_canonical() -> None:
    text = schema.render()
    assert text == schema.render()
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_schema_names_every_message_tag(committed: dict) -> None:
    for message_type in WIRE_MESSAGES:
        assert f"{message_type.__struct_config__.tag} = {message_type.__name__}" in committed["$comment"]
    assert f"schema version {SCHEMA_VERSION}" in committed["$comment"]
    refs = {entry["$ref"] for entry in committed["anyOf"]}
    assert refs == {f"#/$defs/{message_type.__name__}" for message_type in WIRE_MESSAGES}
    for message_type in WIRE_MESSAGES:
        definition = committed["$defs"][message_type.__name__]
        assert definition["properties"]["t"] == {"enum": [message_type.__struct_config__.tag]}
        assert "t" in definition["required"]
        assert definition["properties"]["v"]["default"] == SCHEMA_VERSION


def test_schema_describes_fields_and_enums(committed: dict) -> None:
    defs = committed["$defs"]
    intent = defs["OrderIntent"]
    price = intent["properties"]["price_e4"]
    assert (price["type"], price["minimum"], price["maximum"]) == ("integer", -(2**63), 2**63 - 1)
    assert "x 10^4" in price["description"]
    assert intent["properties"]["side"] == {"$ref": "#/$defs/Side"}
    assert {"intent_id", "qty", "price_e4", "deadline_ns"} <= set(intent["required"])
    assert "tif" not in intent["required"]
    assert set(defs["Side"]["enum"]) == {"buy", "sell"}
    assert "stormguard_halt" in defs["Reason"]["enum"]
    assert defs["RiskSnapshot"]["properties"]["positions"]["items"] == {"$ref": "#/$defs/PositionRow"}


def test_check_reports_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "schema.json"
    stale.write_text(schema.render().replace('"buy"', '"long"'), encoding="utf-8")
    problem = schema.check(stale)
    assert problem is not None
    assert str(stale) in problem and "out of date" in problem
    assert schema.check(tmp_path / "absent.json") is not None


def test_main_check_exits_1_on_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "schema.json"
    stale.write_text("{}\n", encoding="utf-8")
    assert schema.main(["--check", "--output", str(stale)]) == 1
    assert "python -m contracts.schema" in capsys.readouterr().err
    assert stale.read_text(encoding="utf-8") == "{}\n", "--check never writes"


def test_main_writes_then_check_passes(tmp_path: Path) -> None:
    target = tmp_path / "schema.json"
    assert schema.main(["--output", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == schema.render()
    assert schema.main(["--check", "--output", str(target)]) == 0


def test_descriptions_do_not_depend_on_how_msgspec_indents_docstrings() -> None:
    """msgspec 0.23 stopped keeping a docstring's indentation; both forms render the same text."""
    indented = {"a": {"description": "First line and\n    whether it holds."}, "b": [{"description": "x\n  y"}]}
    flat = {"a": {"description": "First line and\nwhether it holds."}, "b": [{"description": "x\ny"}]}
    assert schema._clean_descriptions(indented) == schema._clean_descriptions(flat) == flat
