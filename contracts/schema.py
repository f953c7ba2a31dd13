"""The JSON Schema of the wire: every message in WIRE_MESSAGES, for implementations in other languages.

The schema is generated from the msgspec Structs (`msgspec.json.schema` of the tagged union), so it
cannot drift from the code; the committed copy, contracts/schema.json, is what another
implementation reads, and a test keeps it in sync. The wire itself is msgpack: the JSON Schema
describes the map each message is (`t` the tag, `v` the schema version, then the fields).

    python -m contracts.schema           # rewrite contracts/schema.json
    python -m contracts.schema --check   # exit 1 if contracts/schema.json is out of date
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from pathlib import Path
from typing import Any, Union

import msgspec

from contracts.messages import SCHEMA_VERSION, WIRE_MESSAGES

SCHEMA_FILE = Path(__file__).with_name("schema.json")
REGENERATE = "python -m contracts.schema"


def tag_of(message_type: type[msgspec.Struct]) -> str:
    return message_type.__struct_config__.tag


def _clean_descriptions(node: Any) -> Any:
    """`node` with every description dedented by inspect.cleandoc: how msgspec carries a docstring's
    indentation differs between its releases (0.23 dropped it), and the committed file must not."""
    if isinstance(node, dict):
        return {key: inspect.cleandoc(value) if key == "description" and isinstance(value, str)
                else _clean_descriptions(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_clean_descriptions(value) for value in node]
    return node


def wire_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of any one wire message, with every type under `$defs`."""
    union = Union[WIRE_MESSAGES]  # noqa: UP007 - a runtime union of a tuple of types
    schema = _clean_descriptions(msgspec.json.schema(union))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "orderpath wire messages",
        "description": (
            "Each message is one msgpack map: `t` names its type (the tag), `v` is the schema "
            "version, then its fields. Prices are integers of 1/10,000 TWD (`*_e4`), quantities "
            "are integers, `*_ns` are nanoseconds. Unknown fields must be ignored; missing "
            "required fields are an error."
        ),
        "x-schema-version": SCHEMA_VERSION,
        "x-tag-field": "t",
        "x-messages": {tag_of(t): t.__name__ for t in WIRE_MESSAGES},
        **schema,
    }


def render() -> str:
    """The schema as committed: sorted keys, 2-space indent, a trailing newline."""
    return json.dumps(wire_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def check(path: Path = SCHEMA_FILE) -> str | None:
    """None if `path` holds the current schema, else what is wrong with it."""
    try:
        committed = path.read_text(encoding="utf-8")
    except OSError as exc:
        return f"{path}: cannot read ({exc.strerror}); run `{REGENERATE}` to create it"
    if committed != render():
        return f"{path} is out of date with contracts/messages.py; run `{REGENERATE}` and commit it"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts.schema", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed schema is out of date")
    parser.add_argument("--output", type=Path, default=SCHEMA_FILE, help="the schema file (default: ours)")
    args = parser.parse_args(argv)
    if args.check:
        problem = check(args.output)
        if problem:
            print(problem, file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.write_text(render(), encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
