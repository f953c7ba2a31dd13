"""contracts/schema.json is plain JSON Schema 2020-12 that a strict validator compiles, and says in place
what every integer and enum value means.

The vocabulary walk is ajv's strict mode in small: every keyword must belong to one of 2020-12's
vocabularies (an unknown one, such as OpenAPI's `discriminator` or an `x-*`, is an error), each keyword's
value must have the shape the spec gives it, and every `$ref` must resolve. When node and ajv are
installed (`npm ci` in examples/ts-client, whose dev dependencies include it; nothing is downloaded at test
time), ajv itself compiles the schema in strict mode and validates the golden messages with it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import msgspec
import pytest

from contracts import schema
from contracts.wire_docs import ENUM_VALUES, INT64_MAX, INT64_MIN, NS_CLOCKS
from tests.golden.samples import SAMPLES

REPO = Path(__file__).resolve().parents[3]

SCHEMA_MAP = {"$defs", "properties", "patternProperties", "dependentSchemas"}
SCHEMA_ONE = {"additionalProperties", "items", "contains", "propertyNames", "if", "then", "else", "not",
              "unevaluatedItems", "unevaluatedProperties", "contentSchema"}
SCHEMA_LIST = {"allOf", "anyOf", "oneOf", "prefixItems"}
NUMBERS = {"multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum"}
COUNTS = {"maxLength", "minLength", "maxItems", "minItems", "maxContains", "minContains", "maxProperties",
          "minProperties"}
STRINGS = {"$schema", "$id", "$ref", "$anchor", "$dynamicRef", "$dynamicAnchor", "$comment", "title",
           "description", "pattern", "format", "contentEncoding", "contentMediaType"}
BOOLEANS = {"uniqueItems", "deprecated", "readOnly", "writeOnly"}
ANY_VALUE = {"const", "default", "examples", "enum", "type", "required", "dependentRequired", "$vocabulary"}
VOCABULARY_2020_12 = SCHEMA_MAP | SCHEMA_ONE | SCHEMA_LIST | NUMBERS | COUNTS | STRINGS | BOOLEANS | ANY_VALUE
TYPES = {"null", "boolean", "object", "array", "number", "string", "integer"}


def strict_errors(node: Any, root: dict[str, Any], path: str = "#") -> list[str]:
    """What a strict 2020-12 validator would refuse in this schema, as `path: problem` lines."""
    if isinstance(node, bool):
        return []
    if not isinstance(node, dict):
        return [f"{path}: a schema must be an object or a boolean"]
    errors: list[str] = []
    for keyword, value in node.items():
        here = f"{path}/{keyword}"
        if keyword not in VOCABULARY_2020_12:
            errors.append(f"{here}: unknown keyword")
        elif keyword in SCHEMA_MAP:
            errors += [e for name, sub in value.items() for e in strict_errors(sub, root, f"{here}/{name}")]
        elif keyword in SCHEMA_ONE:
            errors += strict_errors(value, root, here)
        elif keyword in SCHEMA_LIST:
            errors += [e for i, sub in enumerate(value) for e in strict_errors(sub, root, f"{here}/{i}")]
        elif keyword in NUMBERS and (isinstance(value, bool) or not isinstance(value, int | float)):
            errors.append(f"{here}: must be a number")
        elif keyword in COUNTS and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            errors.append(f"{here}: must be a non-negative integer")
        elif keyword in STRINGS and not isinstance(value, str):
            errors.append(f"{here}: must be a string")
        elif keyword in BOOLEANS and not isinstance(value, bool):
            errors.append(f"{here}: must be a boolean")
        elif keyword == "type" and not ({value} if isinstance(value, str) else set(value)) <= TYPES:
            errors.append(f"{here}: unknown type {value!r}")
        elif keyword == "enum" and (not isinstance(value, list) or not value):
            errors.append(f"{here}: must be a non-empty array")
        elif keyword == "required" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            errors.append(f"{here}: must be an array of property names")
        if keyword == "$ref" and isinstance(value, str) and _resolve(root, value) is None:
            errors.append(f"{here}: {value} does not resolve")
    if "format" in node:
        errors.append(f"{path}/format: 2020-12 names no integer format, and strict validators refuse unknown ones")
    return errors


def _resolve(root: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        return None
    node: Any = root
    for part in ref[2:].split("/"):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _properties(committed: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(name, field, node) for name, definition in committed["$defs"].items()
            for field, node in definition.get("properties", {}).items()]


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    return json.loads(schema.SCHEMA_FILE.read_text(encoding="utf-8"))


def test_the_schema_uses_only_2020_12_keywords(committed: dict[str, Any]) -> None:
    assert committed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert strict_errors(committed, committed) == []


def test_the_walk_refuses_what_a_strict_validator_refuses(committed: dict[str, Any]) -> None:
    """The check itself: msgspec's own output (discriminator) and vendor keywords fail it."""
    bad = {**committed, "discriminator": {"propertyName": "t"}, "x-tag-field": "t"}
    bad["$defs"] = {**committed["$defs"], "Side": {**committed["$defs"]["Side"], "format": "int64"},
                    "Broken": {"$ref": "#/$defs/Nowhere", "minimum": "0"}}
    errors = strict_errors(bad, bad)
    assert "#/discriminator: unknown keyword" in errors
    assert "#/x-tag-field: unknown keyword" in errors
    assert any(e.startswith("#/$defs/Side/format") for e in errors)
    assert "#/$defs/Broken/$ref: #/$defs/Nowhere does not resolve" in errors
    assert "#/$defs/Broken/minimum: must be a number" in errors


def test_every_integer_has_the_64_bit_range_and_a_description(committed: dict[str, Any]) -> None:
    integers = 0
    for name, field, node in _properties(committed):
        target = node["items"] if node.get("type") == "array" and "items" in node else node
        if target.get("type") != "integer":
            continue
        integers += 1
        assert (target["minimum"], target["maximum"]) == (INT64_MIN, INT64_MAX), f"{name}.{field}"
        assert "64-bit" in node["description"], f"{name}.{field}"
    assert integers > 80


def test_every_nanosecond_field_names_its_clock(committed: dict[str, Any]) -> None:
    clock_words = ("Wall-clock", "CLOCK_MONOTONIC", "duration")
    seen = set()
    for name, field, node in _properties(committed):
        if field.endswith("_ns") or field == "epoch":
            seen.add(field)
            assert field in NS_CLOCKS, f"{name}.{field}: say its clock in contracts/wire_docs.py NS_CLOCKS"
            assert any(word in node["description"] for word in clock_words), f"{name}.{field}"
    assert seen == set(NS_CLOCKS), "NS_CLOCKS names a field no message has"
    assert "BigInt" in committed["$defs"]["OrderIntent"]["properties"]["created_ts_ns"]["description"]
    assert "CLOCK_MONOTONIC" in committed["$defs"]["OrderIntent"]["properties"]["deadline_ns"]["description"]


def test_every_enum_value_is_explained_in_place(committed: dict[str, Any]) -> None:
    for enum, meanings in ENUM_VALUES.items():
        assert set(meanings) == {member.value for member in enum}, enum.__name__
        definition = committed["$defs"][enum.__name__]
        assert definition["type"] == "string"
        for value in definition["enum"]:
            assert f"- `{value}`: " in definition["description"], f"{enum.__name__}.{value}"


def test_every_price_field_says_it_is_fixed_point(committed: dict[str, Any]) -> None:
    prices = [(n, f, node) for n, f, node in _properties(committed) if f.endswith("_e4")]
    assert len(prices) >= 10
    for name, field, node in prices:
        assert "x 10^4" in node["description"], f"{name}.{field}"


AJV_SCRIPT = r"""
const Ajv2020 = require("ajv/dist/2020");
const fs = require("fs");
const input = JSON.parse(fs.readFileSync(0, "utf8"));
const ajv = new Ajv2020({strict: true, allErrors: true});
const validate = ajv.compile(input.schema);
const verdicts = input.messages.map((m) => validate(m) ? "ok" : ajv.errorsText(validate.errors));
process.stdout.write(JSON.stringify(verdicts));
"""


def _ajv_available() -> bool:
    if shutil.which("node") is None:
        return False
    probe = subprocess.run(["node", "-e", "require.resolve('ajv/dist/2020')"], cwd=REPO, capture_output=True,
                           timeout=30, env=_node_env())
    return probe.returncode == 0


def _node_env() -> dict[str, str]:
    paths = [str(REPO / "examples" / "ts-client" / "node_modules"), os.environ.get("NODE_PATH", "")]
    return {**os.environ, "NODE_PATH": os.pathsep.join(p for p in paths if p)}


@pytest.mark.skipif(not _ajv_available(), reason="node or ajv not installed (cd examples/ts-client && npm ci)")
def test_ajv_compiles_the_schema_strictly_and_validates_the_golden_messages() -> None:
    messages: list[Any] = [msgspec.to_builtins(sample) for sample in SAMPLES.values()]
    intent = msgspec.to_builtins(SAMPLES["intent"])
    messages.append({**intent, "created_ts_ns": 1.5})  # a float where an integer belongs
    messages.append({key: value for key, value in intent.items() if key != "deadline_ns"})
    run = subprocess.run(["node", "-e", AJV_SCRIPT], cwd=REPO, env=_node_env(), capture_output=True, text=True,
                         timeout=60, input=json.dumps({"schema": schema.wire_schema(), "messages": messages}))
    assert run.returncode == 0, run.stderr
    verdicts = json.loads(run.stdout)
    assert verdicts[:-2] == ["ok"] * len(SAMPLES)
    assert "created_ts_ns" in verdicts[-2] and "integer" in verdicts[-2]
    assert "deadline_ns" in verdicts[-1]
