"""Reads a YAML file into a pydantic model, or refuses it with the file, field, value and reason.

Every problem is said the way a person fixes it: a list entry by its `id` (`strategies[mm1]`, not
`strategies.0`), the value given, what is allowed, an unknown key with the nearest known one, a YAML
syntax error with its line, a file that is not UTF-8 with the offending byte.
"""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message says where and why."""


def _models_in(annotation: Any) -> list[type[pydantic.BaseModel]]:
    """The pydantic models an annotation can hold: itself, or inside list[...], dict[..., ...], X | None."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is None:
        return []
    args = typing.get_args(annotation)
    if origin in (list, tuple, set, frozenset):
        return [m for arg in args for m in _models_in(arg)]
    if origin is dict:
        return _models_in(args[-1]) if args else []
    if origin in (typing.Union, types.UnionType):
        return [m for arg in args for m in _models_in(arg)]
    return []


def _known_keys(model: type[pydantic.BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names allowed in the mapping at `loc` (an error's location without its last part)."""
    current: list[type[pydantic.BaseModel]] = [model]
    for part in loc:
        if not isinstance(part, str):
            continue  # a list index or a dict key: the same models hold inside
        nested = [m for c in current if part in c.model_fields for m in _models_in(c.model_fields[part].annotation)]
        if nested:
            current = nested
    return sorted({name for c in current for name in c.model_fields})


def _field_name(raw: Any, loc: tuple[Any, ...]) -> str:
    """`strategies[mm1].limits.max_order_qty`: list entries named by their `id` (or an instrument's
    `symbol`) where they have one."""
    out: list[str] = []
    node = raw
    for part in loc:
        if isinstance(part, int):
            entry = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            name = next((entry[key] for key in ("id", "symbol") if isinstance(entry, dict) and key in entry), None)
            out.append(f"[{name}]" if isinstance(name, str) and name else f"[{part}]")
            node = entry
        else:
            out.append(f".{part}" if out else str(part))
            node = node.get(part) if isinstance(node, dict) else None
    return "".join(out) or "(top level)"


def _describe(path: Path, exc: pydantic.ValidationError, raw: Any, model: type[pydantic.BaseModel]) -> str:
    lines = [f"{path}: {exc.error_count()} invalid field(s)"]
    for error in exc.errors():
        loc = tuple(error["loc"])
        field = _field_name(raw, loc)
        if error["type"] == "extra_forbidden":
            known = _known_keys(model, loc[:-1])
            near = difflib.get_close_matches(str(loc[-1]), known, n=1)
            hint = f"did you mean {near[0]!r}?" if near else f"known keys here: {', '.join(known)}"
            lines.append(f"  {field}: unknown key; {hint} (got {error.get('input')!r})")
            continue
        shown = "missing" if error["type"] == "missing" else repr(error.get("input"))
        lines.append(f"  {field}: {error['msg']} (got {shown})")
    return "\n".join(lines)


def load_yaml_model(path: Path, model: type[ModelT]) -> ModelT:
    """Parse and validate `path`; raise ConfigError naming the file and every bad field."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); "
                          "save the file as UTF-8") from exc
    return parse_yaml_model(text, path, model)


def _yaml_problem(path: Path, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{path}: not valid YAML: {where}{problem}" + (f" ({context})" if context else "")


def parse_yaml_model(text: str, path: Path, model: type[ModelT]) -> ModelT:
    """Like load_yaml_model, for the text of `path` already read (a hot reload validates exactly the bytes
    it versions); ConfigError names `path`."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_problem(path, exc)) from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise ConfigError(_describe(path, exc, raw, model)) from exc
