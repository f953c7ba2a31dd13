"""OpsClient.for_stack: the keys a client of control connects with follow the stack's curve section."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.control.client import OpsClient
from services.runtime.config.curve import CurveConfig
from services.runtime.config.loader import ConfigError
from services.runtime.config.stack import StackConfig, load_stack
from services.runtime.curve import ClientKeys, init_keys, make_keypair

REPO = Path(__file__).resolve().parents[3]


def stack_with(keys_dir: Path, *, ops: bool) -> StackConfig:
    shipped = load_stack(REPO / "config" / "stack.yaml", environ={})
    return shipped.model_copy(update={"curve": CurveConfig(ops=ops, keys_dir=keys_dir)})


def keys_of(client: OpsClient) -> ClientKeys:
    assert client.curve is not None, "a CURVE client"
    return client.curve


def test_without_curve_on_ops_the_client_connects_plain(tmp_path: Path) -> None:
    assert OpsClient.for_stack(stack_with(tmp_path / "nowhere", ops=False)).curve is None


def test_with_curve_on_ops_the_operator_the_launcher_and_a_named_key_each_get_their_pair(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    stack = stack_with(keys_dir, ops=True)
    init_keys(keys_dir, stack.curve)
    make_keypair(keys_dir, "ann", allow=True)
    operator = keys_of(OpsClient.for_stack(stack))
    launcher = keys_of(OpsClient.for_stack(stack, as_service=True))
    ann = keys_of(OpsClient.for_stack(stack, key_file=keys_dir / "ann.key_secret"))
    assert (operator.name, launcher.name, ann.name) == ("operator", "services", "ann")
    assert operator.server_public == launcher.server_public == ann.server_public
    assert len({operator.public, launcher.public, ann.public}) == 3
    assert keys_of(OpsClient.for_stack(stack, as_service=True, key_file=keys_dir / "ann.key_secret")).name == "services"


def test_with_curve_on_ops_and_no_keys_the_client_says_how_to_make_them(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="orderpath keys init"):
        OpsClient.for_stack(stack_with(tmp_path / "keys", ops=True), as_service=True)
