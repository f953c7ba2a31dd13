"""The committed locks: every dependency pyproject.toml names is pinned there, inside its range, with
hashes, and every install path (make, the Dockerfile) installs from them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.unit.deploy.conftest import REPO

PIN = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+)")


def pins(lock: Path) -> dict[str, str]:
    """name → version of each package in a lock, hashes checked to be there for each."""
    text = lock.read_text(encoding="utf-8")
    found: dict[str, str] = {}
    for block in re.split(r"\n(?=\S)", text):
        match = PIN.match(block)
        if match:
            assert "--hash=sha256:" in block, f"{lock.name}: {match[1]} has no hash"
            found.setdefault(canonicalize_name(match[1]), match[2])
    return found


def requirements(extra: str | None = None) -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    named = project["dependencies"] + (project["optional-dependencies"][extra] if extra else [])
    build = [line for line in (REPO / "requirements/build.in").read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    return [Requirement(spec) for spec in named + build]


@pytest.mark.parametrize(("lock", "extra"), [("dev.lock", "dev"), ("runtime.lock", None)])
def test_every_dependency_is_pinned_inside_its_range(lock: str, extra: str | None) -> None:
    pinned = pins(REPO / "requirements" / lock)
    for requirement in requirements(extra):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{lock} lacks {name}: run `make lock`"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{lock} pins {name}=={pinned[name]} outside {requirement.specifier}: run `make lock`")


def test_runtime_lock_agrees_with_the_dev_lock() -> None:
    """The image runs the versions the tests ran."""
    dev, runtime = pins(REPO / "requirements/dev.lock"), pins(REPO / "requirements/runtime.lock")
    assert {name: dev.get(name) for name in runtime} == runtime


def test_make_installs_only_from_the_lock() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8").replace("$(LOCK)", "requirements/dev.lock")
    installs = [line for line in makefile.splitlines() if "pip install" in line and "uv==" not in line]
    assert installs
    for line in installs:
        from_lock = "--require-hashes" in line and "requirements/dev.lock" in line
        assert from_lock or "--no-deps" in line, line
