# The two commands of the README, and the venv they share. Nothing here is needed beyond python3.
# Every install comes from the committed lock (exact versions, sha256 hashes): a fresh machine gets
# what CI got. `make lock` refreshes it, deliberately, in a commit of its own.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-stamp
LOCK := requirements/dev.lock
# uv resolves the lock (universal: every platform's markers and hashes); it is installed into the
# venv from the registry only when the lock is refreshed, never for `up` or `test`.
UV_VERSION := 0.13.10
UV_COMPILE = $(VENV)/bin/uv pip compile --quiet --universal --generate-hashes --python-version 3.11

.PHONY: up test lint lock smoke ts-client

$(STAMP): pyproject.toml $(LOCK)
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --require-hashes --only-binary :all: -r $(LOCK)
	$(VENV)/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

up: $(STAMP)
	$(VENV)/bin/orderpath up --fresh --duration $(or $(DURATION),20)

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest

# The TypeScript reference client (examples/ts-client) and ajv, from its committed lock (exact versions,
# integrity hashes; zeromq's prebuilt binaries ship in its package, so no install script runs). Their
# tests (tests/e2e/test_ts_client.py, ajv in tests/unit/contracts/test_schema_strict.py) skip without it.
ts-client:
	cd examples/ts-client && npm ci --ignore-scripts --no-audit --no-fund && npm run build

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# The compose stack on a real Docker engine (docs/operations.md, "Compose smoke check"); the venv only
# for `ctl status` through the published ops port.
smoke: $(STAMP)
	deploy/smoke.sh

# Refresh both locks from pyproject.toml's ranges: after changing a dependency, or to take new releases
# on purpose (then run `make test` and commit the locks alone).
lock:
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet uv==$(UV_VERSION)
	$(UV_COMPILE) --extra dev pyproject.toml requirements/build.in -o requirements/dev.lock
	$(UV_COMPILE) pyproject.toml requirements/build.in -c requirements/dev.lock -o requirements/runtime.lock
