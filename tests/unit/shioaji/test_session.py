"""services.shioaji.session: credentials only from the environment, simulation always passed, the CA only
for live trading, and the accounts the config names."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from services.runtime.config.loader import ConfigError
from services.runtime.config.shioaji import ShioajiConfig
from services.shioaji.fake_api import FakeShioaji
from services.shioaji.fake_server import FakeSinopac
from services.shioaji.sdk import sj
from services.shioaji.session import fake_environ, login
from tests.unit.shioaji.broker_harness import listings

KEYS = {"SJ_API_KEY": "key", "SJ_SECRET_KEY": "secret"}
CA = {"SJ_CA_PATH": "/secrets/Sinopac.pfx", "SJ_CA_PASSWORD": "pw", "SJ_PERSON_ID": "A123456789"}


@dataclass
class Clients:
    """Builds fake clients as login would build sj.Shioaji, remembering how, and the CAs activated."""

    server: FakeSinopac
    built: list[bool | None] = field(default_factory=list)
    activated: list[tuple[str, str, str | None]] = field(default_factory=list)

    def __call__(self, *, simulation: bool | None) -> FakeShioaji:
        self.built.append(simulation)
        clients = self

        class Client(FakeShioaji):
            def activate_ca(self, /, ca_path: str, ca_passwd: str, person_id: str | None = None) -> bool:
                if ca_passwd == "wrong":
                    raise sj.CaPasswordError("CA password incorrect")
                clients.activated.append((ca_path, ca_passwd, person_id))
                return super().activate_ca(ca_path, ca_passwd, person_id)

        return Client.connected_to(self.server, simulation=simulation)


@pytest.fixture
def clients() -> Iterator[Clients]:
    server = FakeSinopac(ShioajiConfig(simulation=True).fake, listings())
    yield Clients(server)
    server.stop()


def test_paper_login_needs_only_the_keys_and_passes_simulation(clients: Clients) -> None:
    api, accounts = login(clients, ShioajiConfig(simulation=True), KEYS)
    assert (clients.built, clients.activated) == ([True], [])
    assert (accounts.stock.account_id, accounts.futures.account_id) == ("0000001", "0000002")
    assert api.list_trades() == []


def test_live_login_activates_the_ca_from_the_environment(clients: Clients) -> None:
    login(clients, ShioajiConfig(simulation=False), {**KEYS, **CA})
    assert clients.built == [False]
    assert clients.activated == [("/secrets/Sinopac.pfx", "pw", "A123456789")]


@pytest.mark.parametrize("simulation, environ, missing", [
    (True, {}, "SJ_API_KEY, SJ_SECRET_KEY"),
    (False, KEYS, "SJ_CA_PATH, SJ_CA_PASSWORD, SJ_PERSON_ID"),
])
def test_missing_credentials_are_named_and_no_client_is_built(clients: Clients, simulation: bool,
                                                              environ: dict[str, str], missing: str) -> None:
    with pytest.raises(ConfigError, match=missing):
        login(clients, ShioajiConfig(simulation=simulation), environ)
    assert clients.built == []


def test_a_refused_login_says_what_the_broker_said(clients: Clients) -> None:
    with pytest.raises(ConfigError, match=r"login refused \(CaPasswordError: CA password incorrect\)"):
        login(clients, ShioajiConfig(simulation=False), {**KEYS, **CA, "SJ_CA_PASSWORD": "wrong"})


def test_accounts_named_in_the_config(clients: Clients) -> None:
    _, accounts = login(clients, ShioajiConfig(simulation=True, stock_account_id="0000001"), KEYS)
    assert accounts.stock.account_id == "0000001"
    with pytest.raises(ConfigError, match=r"no stock account '9999999' in this login \(have 0000001\)"):
        login(clients, ShioajiConfig(simulation=True, stock_account_id="9999999"), KEYS)


def test_the_fake_gets_its_own_keys_under_the_configured_names() -> None:
    config = ShioajiConfig(simulation=True, api_key_env="MY_KEY", secret_key_env="MY_SECRET")
    assert set(fake_environ(config)) == {"MY_KEY", "MY_SECRET"} and all(fake_environ(config).values())


def test_simulation_has_no_default() -> None:
    with pytest.raises(ValueError, match="simulation"):
        ShioajiConfig.model_validate({})
