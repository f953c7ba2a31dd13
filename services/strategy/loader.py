"""Builds strategy instances from config entries (`module:Class` + params)."""

from __future__ import annotations

import importlib

from services.runtime.config.strategy_limits import StrategyEntry
from services.strategy.api import Strategy


class StrategyLoadError(ValueError):
    """A strategy class that cannot be found or is not a Strategy; says which entry and why."""


def load_strategy(entry: StrategyEntry) -> Strategy:
    if entry.class_path is None:
        raise StrategyLoadError(f"strategy {entry.id} is external (no class): it runs outside the runner")
    module_name, _, class_name = entry.class_path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise StrategyLoadError(f"strategy {entry.id}: cannot import {module_name}: {exc}") from exc
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise StrategyLoadError(f"strategy {entry.id}: {entry.class_path} is not a Strategy subclass")
    return cls(entry.id, list(entry.symbols), dict(entry.params))
