"""Logging in to Shioaji with credentials from the environment, and choosing the accounts to trade.

Credentials are read from the environment variables the config names (SJ_API_KEY, SJ_SECRET_KEY;
for live trading also SJ_CA_PATH, SJ_CA_PASSWORD, SJ_PERSON_ID), never from a file. `simulation`
is passed to the SDK's constructor explicitly, from config, every time. The CA is activated only
for live trading: the paper server needs none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from services.runtime.config.loader import ConfigError
from services.runtime.config.shioaji import ShioajiConfig
from services.shioaji.sdk import sj

ApiFactory = Callable[..., Any]
"""Builds the SDK client with `simulation=` as the only argument: sj.Shioaji, or the fake's."""

FAKE_KEYS = ("fake-api-key", "fake-secret-key")


@dataclass(frozen=True, slots=True)
class Accounts:
    """The accounts orders go to; None where the login has no account of that kind."""

    stock: Any
    futures: Any


def _required(environ: Mapping[str, str], names: list[str], why: str) -> list[str]:
    missing = [name for name in names if not environ.get(name)]
    if missing:
        raise ConfigError(f"shioaji: {why} needs the environment variable(s) {', '.join(missing)}")
    return [environ[name] for name in names]


def login(make_api: ApiFactory, config: ShioajiConfig, environ: Mapping[str, str]) -> tuple[Any, Accounts]:
    """A logged-in client and its accounts; ConfigError saying what is missing or what the broker refused."""
    api_key, secret_key = _required(environ, [config.api_key_env, config.secret_key_env], "login")
    ca = None if config.simulation else _required(
        environ, [config.ca_path_env, config.ca_password_env, config.person_id_env], "live trading (simulation: false)")
    api = make_api(simulation=config.simulation)
    try:
        accounts = api.login(api_key=api_key, secret_key=secret_key, subscribe_trade=True)
        if ca is not None:
            ca_path, ca_password, person_id = ca
            api.activate_ca(ca_path=ca_path, ca_passwd=ca_password, person_id=person_id)
        if api.contracts.status != sj.FetchStatus.Fetched:
            api.fetch_contracts(contracts_timeout=config.login_timeout_ms)
    except sj.ShioajiError as exc:
        raise ConfigError(f"shioaji: login refused ({type(exc).__name__}: {exc})") from exc
    return api, Accounts(
        stock=_pick(accounts, sj.AccountType.Stock, config.stock_account_id, api.stock_account),
        futures=_pick(accounts, sj.AccountType.Future, config.futures_account_id, api.futopt_account),
    )


def fake_environ(config: ShioajiConfig) -> dict[str, str]:
    """An environment with keys for the fake server, which takes any: the fake needs none of the desk's."""
    return dict(zip((config.api_key_env, config.secret_key_env), FAKE_KEYS, strict=True))


def _pick(accounts: list[Any], kind: Any, account_id: str | None, default: Any) -> Any:
    if account_id is None:
        return default
    for account in accounts:
        if account.account_type == kind and account.account_id == account_id:
            return account
    have = [a.account_id for a in accounts if a.account_type == kind] or ["none"]
    raise ConfigError(f"shioaji: no {kind.name.lower()} account {account_id!r} in this login (have {', '.join(have)})")
