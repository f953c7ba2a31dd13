"""Reads a YAML file into a pydantic model, or refuses it with the file, field, value and reason."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import pydantic
import yaml

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message says where and why."""


def _describe(path: Path, exc: pydantic.ValidationError) -> str:
    lines = [f"{path}: {exc.error_count()} invalid field(s)"]
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "(top level)"
        value = error.get("input")
        shown = "missing" if error["type"] == "missing" else repr(value)
        lines.append(f"  {field}: {error['msg']} (got {shown})")
    return "\n".join(lines)


def load_yaml_model(path: Path, model: type[ModelT]) -> ModelT:
    """Parse and validate `path`; raise ConfigError naming the file and every bad field."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    return parse_yaml_model(text, path, model)


def parse_yaml_model(text: str, path: Path, model: type[ModelT]) -> ModelT:
    """Like load_yaml_model, for the text of `path` already read (a hot reload validates exactly the bytes
    it versions); ConfigError names `path`."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise ConfigError(_describe(path, exc)) from exc
