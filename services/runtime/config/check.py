"""Every configuration file of a stack validated at once, before anything is spawned.

`orderpath config check` prints what this finds; `orderpath up`, `run` and `replay` refuse to start on
it, so a broken file is said on the terminal (file, strategy id, field, value, what is allowed) instead
of in a service's log after the stack has half started.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from services.runtime.config.loader import ConfigError, load_yaml_model
from services.runtime.config.stack import StackConfig, load_stack
from services.runtime.hot_config import config_files


def check_stack(path: Path | None = None, environ: Mapping[str, str] | None = None
                ) -> tuple[StackConfig | None, list[str]]:
    """The stack's config and the problems of every file it names (none: all valid). A stack.yaml that
    does not load leaves nothing else to check."""
    try:
        stack = load_stack(path, environ)
    except ConfigError as exc:
        return None, [str(exc)]
    problems: list[str] = []
    for file_path, model in config_files(stack).values():
        try:
            load_yaml_model(file_path, model)
        except ConfigError as exc:
            problems.append(str(exc))
    return stack, problems


def checked_files(stack: StackConfig) -> list[Path]:
    return [file_path for file_path, _ in config_files(stack).values()]
