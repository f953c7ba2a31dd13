"""The Dockerfile, read as instructions since nothing here can build it: two stages, the package built
from pyproject.toml, a non-root user, `orderpath` as entrypoint, and a context that holds what it copies."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from dataclasses import dataclass, field

import pytest

from tests.unit.deploy.conftest import REPO


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def instructions() -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            out.append((keyword.upper(), args.strip()))
    return out


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    args: dict[str, str] = {}
    found: list[Stage] = []
    for keyword, rest in instructions():
        if keyword == "ARG" and not found:
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            image, _, name = rest.partition(" AS ")
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], image.strip())
            found.append(Stage(image, name.strip()))
        else:
            assert found, f"{keyword} before any FROM"
            found[-1].instructions.append((keyword, rest))
    return found


def test_two_stages_on_python_3_11_slim(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    assert all(stage.base == "python:3.11-slim" for stage in stages)
    assert all(stage.name for stage in stages), "every stage is named, so COPY --from says which"


def test_the_build_stage_makes_a_wheel_of_the_project_into_a_venv(stages: list[Stage]) -> None:
    build, runtime = stages[0], stages[-1]
    runs = " && ".join(build.all("RUN"))
    assert "python3 -m venv /opt/orderpath" in runs, "python3: a Debian base has no `python`"
    assert re.search(r"pip wheel .*--wheel-dir (\S+) \.", runs), "the wheel is built from the repo's pyproject"
    assert "pip install --no-deps /wheels/orderpath-" in runs
    assert any(c.startswith("pyproject.toml ") for c in build.all("COPY"))
    assert f"--from={build.name} /opt/orderpath /opt/orderpath" in runtime.all("COPY")


def test_runtime_runs_orderpath_as_a_user_that_is_not_root(stages: list[Stage]) -> None:
    runtime = stages[-1]
    (user,) = runtime.all("USER")
    assert user.split(":")[0] not in ("root", "0")
    entrypoint = json.loads(runtime.all("ENTRYPOINT")[-1])
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert entrypoint == ["orderpath"] and "orderpath" in scripts
    assert any("/opt/orderpath/bin" in env for env in runtime.all("ENV")), "the venv's scripts are on PATH"


def test_runtime_has_config_data_and_a_writable_var(stages: list[Stage]) -> None:
    runtime = stages[-1]
    assert runtime.all("WORKDIR") == ["/app"]
    copies = runtime.all("COPY")
    assert "config/ config/" in copies and "data/ data/" in copies
    runs = " && ".join(runtime.all("RUN"))
    assert "mkdir -p /app/var /app/keys" in runs and "chown orderpath:orderpath /app/var /app/keys" in runs


def dockerignore() -> list[str]:
    lines = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    parts = path.rstrip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(prefix, pattern.removeprefix("**/")) or fnmatch.fnmatch(prefix, pattern)
               for pattern in patterns for prefix in prefixes)


def test_the_context_holds_what_is_copied_and_not_the_local_state(stages: list[Stage]) -> None:
    patterns = dockerignore()
    for unwanted in (".venv", "var", ".git", "__pycache__/x.pyc", ".pytest_cache", ".ruff_cache"):
        assert ignored(unwanted, patterns), f".dockerignore lets {unwanted} into the build context"
    for stage in stages:
        for copy in stage.all("COPY"):
            if copy.startswith("--from="):
                continue
            *sources, _ = copy.split()
            for source in sources:
                assert (REPO / source).exists(), f"COPY {source}: not in the repo"
                assert not ignored(source, patterns), f"COPY {source}: excluded by .dockerignore"


def test_the_wheel_carries_every_package_the_services_import(stages: list[Stage]) -> None:
    """The image installs the wheel only: every package pyproject.toml puts in it is copied to the build."""
    find = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"]
    included = {pattern.rstrip("*").rstrip(".") for pattern in find["find"]["include"]}
    assert {"contracts", "services"} <= included
    copies = stages[0].all("COPY")
    for package in included:
        assert f"{package}/ {package}/" in copies, f"the wheel includes {package}, the build stage does not copy it"


def test_dependencies_come_from_the_lock_in_a_layer_before_the_code(stages: list[Stage]) -> None:
    build = stages[0]
    steps = build.instructions
    lock_install = next(i for i, (kw, args) in enumerate(steps)
                        if kw == "RUN" and "--require-hashes" in args and "requirements/runtime.lock" in args)
    first_code_copy = next(i for i, (kw, args) in enumerate(steps) if kw == "COPY" and args.startswith("services/"))
    assert lock_install < first_code_copy, "a code change must not reinstall every dependency"
    assert all("--no-deps" in args for kw, args in steps[lock_install + 1:] if kw == "RUN" and "pip install" in args)


def test_no_frontend_line_that_would_need_docker_hub() -> None:
    """`# syntax=` makes BuildKit pull a frontend image: a desk without Docker Hub could not build."""
    first = (REPO / "Dockerfile").read_text(encoding="utf-8").splitlines()[0]
    assert not re.match(r"#\s*syntax\s*=", first)
