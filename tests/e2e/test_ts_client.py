"""The TypeScript reference client (examples/ts-client), written from docs/wire.md alone, trades against a
live stack as an external strategy: it heartbeats and asks for status on CURVE ops, its malformed intent is
refused naming the field, its good one is approved and reported, status shows it connected, and its final
heartbeat says it stopped.

Skipped unless node and the client's build are there (`cd examples/ts-client && npm ci && npm run build`);
nothing is downloaded at test time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from services.launcher import LocalStack
from tests.e2e.control_helpers import risk_hears_market, wait_until
from tests.e2e.stack_config import REPO

pytestmark = pytest.mark.e2e

CLIENT = REPO / "examples" / "ts-client"
BUILT = CLIENT / "dist" / "client.js"
SOCKETS = ("md", "intents", "exec", "risk", "control", "ops")

if shutil.which("node") is None or not BUILT.exists() or not (CLIENT / "node_modules" / "zeromq").exists():
    pytest.skip("node or the built TypeScript client is missing (examples/ts-client: npm ci && npm run build)",
                allow_module_level=True)


def test_the_typescript_client_trades_as_an_external_strategy(external_stack: LocalStack) -> None:
    stack = external_stack
    stack.start()
    wait_until("risk receiving md", lambda: risk_hears_market(stack))
    endpoints = stack.config.endpoints
    env = {**os.environ, "ORDERPATH_KEYS_DIR": str(stack.config.curve.keys_dir),
           **{f"ORDERPATH_{name.upper()}_ENDPOINT": getattr(endpoints, name) for name in SOCKETS}}
    done = subprocess.run(["node", str(BUILT), "--strategy", "ext1", "--symbol", "2330", "--bad-intent"],
                          cwd=CLIENT, env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["bad_intent"]["approved"] is False and seen["bad_intent"]["reason"] == "bad_message"
    assert "created_ts_ns" in seen["bad_intent"]["detail"]
    assert seen["decision"] == {"approved": True, "reason": None, "approved_qty": "1"}
    assert seen["report"]["exec_type"] in ("fill", "expired")
    assert seen["status"]["external"] is True and seen["status"]["state"] == "alive"
    wait_until("the client's final heartbeat", lambda: stack.status()["strategies"]["ext1"]["state"] == "stopped",
               deadline_s=5.0)
