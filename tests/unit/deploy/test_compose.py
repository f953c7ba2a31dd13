"""docker-compose.yml against the code: commands, endpoints, healthchecks, volumes, profiles, and the
Compose schema. There is no Docker engine where these run, so the file must be right by construction."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from contracts.enums import ServiceName
from services.cli import app
from services.control.ctl import CTL_KEY_ENV
from services.runtime.config.loader import load_yaml_model
from services.runtime.config.stack import load_stack
from services.runtime.config.strategy_limits import StrategyLimitsConfig
from services.runtime.instance import INSTANCE_ENV, instance_name
from tests.unit.deploy.compose_schema import ComposeSchema, keywords_used, load_schema
from tests.unit.deploy.conftest import REPO, orderpath_services

ENDPOINT = re.compile(r"^tcp://(?P<host>[^:/]+):(?P<port>\d+)$")
BIND_ALL = ("*", "0.0.0.0")
CONFIG_TARGET = PurePosixPath("/app/config")
APP_KEYS = PurePosixPath("/app/keys")


def shipped_stack():
    return load_stack(REPO / "config" / "stack.yaml", environ={})


def endpoint_variable(field: str) -> str:
    return f"ORDERPATH_{field.upper()}_ENDPOINT"


def environment(svc: dict[str, Any]) -> dict[str, str]:
    env = svc.get("environment") or {}
    assert isinstance(env, dict), "environment is written as a mapping"
    return {key: str(value) for key, value in env.items()}


def runs(svc: dict[str, Any]) -> str:
    return svc["command"][1]


def parsed(value: str, where: str) -> tuple[str, int]:
    match = ENDPOINT.match(value)
    assert match, f"{where}: {value!r} is not tcp://HOST:PORT"
    return match["host"], int(match["port"])


def cli_accepts(*args: str) -> bool:
    """Whether `orderpath ARGS` parses: given a stack file that does not exist, a command whose arguments
    are all accepted gets as far as reading the config, and says so."""
    done = CliRunner().invoke(app, [*args, "--config", "/nonexistent/stack.yaml"])
    return done.exit_code == 2 and "stack.yaml: cannot read" in done.output


def compose_binders(compose: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """endpoint field -> (compose service, port) of the service whose environment binds it."""
    binders: dict[str, tuple[str, int]] = {}
    for name, svc in orderpath_services(compose).items():
        for variable, value in environment(svc).items():
            field = re.fullmatch(r"ORDERPATH_(\w+)_ENDPOINT", variable)
            if not field:
                continue
            host, port = parsed(value, f"{name}.{variable}")
            if host in BIND_ALL:
                previous = binders.setdefault(field[1].lower(), (name, port))
                assert previous == (name, port) or name == "strategy2", \
                    f"{field[1].lower()} is bound by both {previous[0]} and {name}"
    return binders


# --- the file is compose ------------------------------------------------------------------------


def test_the_vendored_schema_is_the_compose_spec_and_fully_understood() -> None:
    schema = load_schema()
    assert schema["$id"] == "compose_spec.json"
    assert {"services", "volumes", "networks"} <= schema["properties"].keys()
    assert "service" in schema["definitions"] and "healthcheck" in schema["definitions"]
    assert {"$ref", "oneOf", "additionalProperties", "patternProperties"} <= keywords_used(schema)
    ComposeSchema(schema)  # refuses a schema with keywords it does not implement


def test_compose_file_is_valid_against_the_compose_schema(compose: dict[str, Any]) -> None:
    errors = ComposeSchema().errors(compose)
    assert errors == [], "\n".join(errors)


def test_the_schema_check_catches_what_docker_compose_refuses(compose: dict[str, Any]) -> None:
    schema = ComposeSchema()
    misspelt = yaml.safe_load(yaml.safe_dump(compose))
    misspelt["services"]["feed"]["comand"] = misspelt["services"]["feed"].pop("command")
    assert any("comand" in e for e in schema.errors(misspelt))
    bad_condition = yaml.safe_load(yaml.safe_dump(compose))
    bad_condition["services"]["risk"]["depends_on"]["adapter"]["condition"] = "healthy"
    assert schema.errors(bad_condition)


def _compose_v2() -> list[str] | None:
    """`docker compose` (the Compose v2 plugin), if installed."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    return None


def _compose_v1() -> list[str] | None:
    """The standalone `docker-compose` (Debian bookworm's is 1.29.2), if installed."""
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


@pytest.mark.parametrize("find", [_compose_v2, _compose_v1], ids=["compose-v2", "docker-compose-1.29"])
def test_docker_compose_accepts_the_file_with_every_profile(find: Any, compose: dict[str, Any],
                                                            tmp_path: Path) -> None:
    command = find()
    if command is None:
        pytest.skip(f"{find.__doc__} not installed here: the schema test above is the check")
    every_profile = ["--profile", "monitoring", "--profile", "strategy2"]
    done = subprocess.run([*command, *every_profile, "config", "-q"], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    # The same compose must refuse a broken copy, or its exit code says nothing (some wrappers drop it).
    broken = yaml.safe_load(yaml.safe_dump(compose))
    broken["services"]["feed"]["comand"] = broken["services"]["feed"].pop("command")
    (tmp_path / "docker-compose.yml").write_text(yaml.safe_dump(broken), encoding="utf-8")
    refused = subprocess.run([*command, "-f", str(tmp_path / "docker-compose.yml"), "--project-directory", str(REPO),
                              *every_profile, "config", "-q"], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0, f"{command} accepted a misspelt key: its verdict cannot be trusted"


def test_the_file_has_no_key_docker_compose_1_29_refuses() -> None:
    """Debian bookworm ships Compose 1.29 only, which refuses a top-level `name:` ("'name' does not match any
    of the regexes: '^x-'"): the project name comes from .env, which both versions read."""
    top_level = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    assert "name" not in top_level
    dotenv = dict(line.split("=", 1) for line in (REPO / ".env").read_text(encoding="utf-8").splitlines()
                  if line.strip() and not line.startswith("#"))
    assert dotenv == {"COMPOSE_PROJECT_NAME": "orderpath"}, "the volumes are orderpath_* in docs/operations.md"


def test_one_image_built_once_for_every_service(compose: dict[str, Any]) -> None:
    """Control builds the image; every other service runs it, and waits for control, so even Compose 1.29
    (which builds or pulls service by service in start order) has it built before it needs it."""
    services = orderpath_services(compose)
    builders = [name for name, svc in services.items() if "build" in svc]
    assert builders == [ServiceName.CONTROL], f"one service builds the image, not {builders}"
    image = services[ServiceName.CONTROL]["image"]
    for name, svc in services.items():
        assert svc["image"] == image, f"{name} runs {svc['image']}, not the one image {image}"
        if name != ServiceName.CONTROL:
            assert ServiceName.CONTROL in svc["depends_on"], f"{name} could start before the image is built"
    build = services[ServiceName.CONTROL]["build"]
    assert build["context"] == "."
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    (default,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, flags=re.MULTILINE)
    assert build["args"]["PYTHON_IMAGE"] == f"${{ORDERPATH_PYTHON_IMAGE:-{default}}}", \
        "the base image is the Dockerfile's unless ORDERPATH_PYTHON_IMAGE names another"


# --- services and commands ----------------------------------------------------------------------


def test_every_service_runs_once_under_its_own_name(compose: dict[str, Any]) -> None:
    services = orderpath_services(compose)
    for name in ServiceName:
        assert name in services, f"compose has no service {name}"
        assert services[name]["command"] == ["run", str(name)]
    for name, svc in services.items():
        assert len(svc["command"]) == 2 and runs(svc) in set(ServiceName), f"{name}: {svc['command']}"


def test_every_command_is_an_orderpath_cli_command(compose: dict[str, Any]) -> None:
    assert not cli_accepts("run", "no-such-service"), "the probe would accept anything"
    for name, svc in orderpath_services(compose).items():
        assert cli_accepts(*svc["command"]), f"{name}: `orderpath {' '.join(svc['command'])}` is refused"


def test_healthchecks_ask_control_about_the_service_itself(compose: dict[str, Any]) -> None:
    for name, svc in orderpath_services(compose).items():
        check = svc["healthcheck"]
        test = check["test"]
        assert test[:4] == ["CMD", "orderpath", "ctl", "ping"], f"{name}: {test}"
        itself = environment(svc).get(INSTANCE_ENV, runs(svc))
        assert test[4] == itself, f"{name}: its healthcheck asks about {test[4]}, it heartbeats as {itself}"
        assert cli_accepts(*test[2:]), f"{name}: `{' '.join(test[1:])}` is refused"
        assert "--timeout" in test, f"{name}: the ping must give up on its own"
        ping_timeout_s = float(test[test.index("--timeout") + 1])
        assert ping_timeout_s < seconds(check["timeout"]), f"{name}: docker would kill the ping before it answers"
        assert check["retries"] >= 1 and seconds(check["interval"]) > 0


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration)
    assert parts and "".join(a + b for a, b in parts) == duration, f"not a duration: {duration!r}"
    return sum(float(amount) * units[unit] for amount, unit in parts)


def test_services_restart_on_their_own(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        assert svc.get("restart") == "unless-stopped", f"{name}: restart policy {svc.get('restart')!r}"


def test_start_order_is_the_launchers(compose: dict[str, Any]) -> None:
    """Control first; the feed last, once everything that reads md is up (like `orderpath up`)."""
    services = orderpath_services(compose)
    for name, svc in services.items():
        for dependency, rule in (svc.get("depends_on") or {}).items():
            assert dependency in compose["services"], f"{name} depends on unknown {dependency}"
            assert rule["condition"] == "service_healthy"
        if name != ServiceName.CONTROL:
            assert ServiceName.CONTROL in svc["depends_on"], f"{name} does not wait for control"
    others = {str(n) for n in ServiceName} - {ServiceName.FEED}
    assert set(services[ServiceName.FEED]["depends_on"]) == others


# --- endpoints ------------------------------------------------------------------------------------


def test_no_endpoint_variable_the_code_does_not_know(compose: dict[str, Any], code_facts: dict[str, Any]) -> None:
    known = {endpoint_variable(field) for field in code_facts["endpoint_fields"]}
    for name, svc in orderpath_services(compose).items():
        for variable in environment(svc):
            if variable.endswith("_ENDPOINT"):
                assert variable in known, f"{name}: {variable} is no field of Endpoints ({sorted(known)})"


def test_every_endpoint_a_service_uses_is_set_for_it(compose: dict[str, Any], code_facts: dict[str, Any]) -> None:
    for name, svc in orderpath_services(compose).items():
        facts = code_facts["services"][runs(svc)]
        env = environment(svc)
        for field in {*facts["binds"], *facts["connects"]}:
            assert endpoint_variable(field) in env, f"{name} uses {field} but does not set {endpoint_variable(field)}"


def test_binders_listen_on_every_interface(compose: dict[str, Any], code_facts: dict[str, Any]) -> None:
    for name, svc in orderpath_services(compose).items():
        facts = code_facts["services"][runs(svc)]
        env = environment(svc)
        for field in facts["binds"]:
            host, _ = parsed(env[endpoint_variable(field)], f"{name}.{field}")
            # tcp://*:P cannot be connected to; a service that binds and connects (control's ops,
            # for its own heartbeats and healthcheck) uses 0.0.0.0, which Linux connects locally.
            wanted = ("0.0.0.0",) if field in facts["connects"] else BIND_ALL
            assert host in wanted, f"{name} binds {field} on {host!r}: peers in other containers cannot reach it"


def test_every_connect_names_the_compose_service_that_binds_it(compose: dict[str, Any],
                                                               code_facts: dict[str, Any]) -> None:
    binders = compose_binders(compose)
    for name, svc in orderpath_services(compose).items():
        facts = code_facts["services"][runs(svc)]
        env = environment(svc)
        for field in set(facts["connects"]) - set(facts["binds"]):
            host, port = parsed(env[endpoint_variable(field)], f"{name}.{field}")
            assert field in binders, f"{name} connects to {field}, which no compose service binds"
            assert (host, port) == binders[field], \
                f"{name} connects {field} at {host}:{port}, but {binders[field][0]} binds it on {binders[field][1]}"


def test_each_endpoint_is_bound_where_the_code_binds_it(compose: dict[str, Any], code_facts: dict[str, Any]) -> None:
    binders = compose_binders(compose)
    stack_ports = {field: int(value.rsplit(":", 1)[1]) for field, value in shipped_stack().endpoints}
    for field in code_facts["endpoint_fields"]:
        assert field in binders, f"no compose service binds {field}"
        service, port = binders[field]
        assert port == stack_ports[field], f"{field} on {port}, config/stack.yaml says {stack_ports[field]}"
        code_binders = {n for n, facts in code_facts["services"].items() if field in facts["binds"]}
        # An endpoint whose binding code is still being written has no code binder yet: compose leads.
        if code_binders:
            assert code_binders == {runs(compose["services"][service])}, \
                f"{field}: compose binds it in {service}, the code in {sorted(code_binders)}"


def test_the_probe_sees_the_documented_topology(code_facts: dict[str, Any]) -> None:
    """The probe itself: the sockets docs/design.md's table names, so the checks above have something to check."""
    services = code_facts["services"]
    assert {"md"} <= set(services["feed"]["binds"])
    assert {"intents", "risk"} <= set(services["risk"]["binds"])
    assert {"orders", "exec"} <= set(services["adapter"]["binds"])
    assert {"control", "ops"} <= set(services["control"]["binds"])
    for name in ServiceName:
        assert "ops" in services[name]["connects"], f"{name} sends no heartbeats?"
        assert services[name]["exit_code"] == 0


# --- metrics ports, volumes, profiles -------------------------------------------------------------


def test_metrics_ports_are_those_of_the_stack_file(compose: dict[str, Any]) -> None:
    ports = shipped_stack().metrics_ports
    for name, svc in orderpath_services(compose).items():
        variable = f"ORDERPATH_{runs(svc).upper()}_METRICS_PORT"
        assert int(environment(svc)[variable]) == ports[runs(svc)] != 0, f"{name}: {variable}"


def mounts(svc: dict[str, Any]) -> dict[PurePosixPath, tuple[str, bool]]:
    """target -> (source, read_only) of the short-syntax volumes."""
    out = {}
    for entry in svc.get("volumes", []):
        source, target, *mode = entry.split(":")
        out[PurePosixPath(target)] = (source, mode == ["ro"])
    return out


def test_config_is_mounted_read_only_where_the_image_looks_for_it(compose: dict[str, Any]) -> None:
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert f"ORDERPATH_CONFIG={CONFIG_TARGET / 'stack.yaml'}" in dockerfile
    for name, svc in orderpath_services(compose).items():
        assert mounts(svc)[CONFIG_TARGET] == ("./config", True), f"{name}: config not mounted read-only"


def test_the_adapter_journal_lives_on_a_named_volume(compose: dict[str, Any]) -> None:
    var_dir = PurePosixPath(str(shipped_stack().var_dir.relative_to(REPO)))
    container_var = PurePosixPath("/app") / var_dir
    adapter = mounts(compose["services"]["adapter"])
    assert adapter[container_var] == ("journal", False), f"adapter: nothing writable at {container_var}"
    assert "journal" in compose["volumes"]


def test_what_a_service_writes_under_var_survives_a_recreated_container(compose: dict[str, Any],
                                                                        code_facts: dict[str, Any]) -> None:
    """The adapter's journal, control's state and audit: each service that writes under var_dir has a named
    volume of its own there, writable."""
    container_var = PurePosixPath("/app") / PurePosixPath(str(shipped_stack().var_dir.relative_to(REPO)))
    writers = {name for name, facts in code_facts["services"].items() if facts["writes_var"]}
    assert {"adapter", "control"} <= writers, "the probe sees the journal and the audit file"
    volumes: dict[str, str] = {}
    for name, svc in orderpath_services(compose).items():
        if runs(svc) not in writers:
            continue
        source, read_only = mounts(svc).get(container_var, ("", True))
        assert source in compose["volumes"] and not read_only, \
            f"{name} writes {code_facts['services'][runs(svc)]['writes_var']} under {container_var}: no named " \
            "writable volume there, so they go with the container"
        assert volumes.setdefault(source, name) == name, f"{name} and {volumes[source]} share the volume {source}"


def test_ctl_in_a_container_uses_the_key_meant_for_it(compose: dict[str, Any]) -> None:
    """With curve.ops, `orderpath ctl` connects with the key file $ORDERPATH_CTL_KEY names: the operator's
    in control's container (`docker compose exec control orderpath ctl …`), the services' in the others,
    whose healthcheck pings need no operator's key."""
    curve = shipped_stack().curve
    assert curve.keys_dir == REPO / "keys", "keys_dir is where the keys volume is mounted"
    for name, svc in orderpath_services(compose).items():
        wanted = curve.operator_key if runs(svc) == ServiceName.CONTROL else curve.service_key
        key_file = environment(svc).get(CTL_KEY_ENV)
        assert key_file == str(APP_KEYS / f"{wanted}.key_secret"), f"{name}: {CTL_KEY_ENV}={key_file!r}"


def test_keys_volume_is_mounted_in_every_service(compose: dict[str, Any]) -> None:
    """Control makes the keys on first start (writable there); every other service only reads them."""
    assert "keys" in compose["volumes"]
    for name, svc in orderpath_services(compose).items():
        writer = runs(svc) == ServiceName.CONTROL
        assert mounts(svc)[APP_KEYS] == ("keys", not writer), \
            f"{name}: keys volume at {APP_KEYS} should be {'writable' if writer else 'read-only'}"


def test_metrics_listen_inside_the_compose_network(compose: dict[str, Any]) -> None:
    """Loopback by default (stack.yaml); a container sets 0.0.0.0 so Prometheus's container can scrape it."""
    assert shipped_stack().metrics_address == "127.0.0.1"
    for name, svc in orderpath_services(compose).items():
        assert environment(svc).get("ORDERPATH_METRICS_ADDRESS") == "0.0.0.0", name


def test_monitoring_and_the_second_runner_are_profiles(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ServiceName:
        assert "profiles" not in services[name], f"{name} must start with a plain `docker compose up`"
    assert services["prometheus"]["profiles"] == ["monitoring"]
    assert services["grafana"]["profiles"] == ["monitoring"]
    assert services["strategy2"]["profiles"] == ["strategy2"]


def test_the_second_runner_is_a_strategy_runner_with_its_own_strategies(compose: dict[str, Any]) -> None:
    first, second = compose["services"]["strategy"], compose["services"]["strategy2"]
    assert second["command"] == ["run", "strategy"]
    own = {INSTANCE_ENV: "strategy-2"}
    assert environment(second) == {**environment(first), **own}, "both push into the same risk intents socket"
    assert instance_name(ServiceName.STRATEGY, own) == "strategy-2", "the runtime takes the name"
    limits_target = CONFIG_TARGET / shipped_stack().strategy_limits_file.relative_to(REPO / "config")
    source, read_only = mounts(second)[PurePosixPath(str(limits_target))]
    assert read_only and source.startswith("./deploy/")
    hosted = load_yaml_model(REPO / source, StrategyLimitsConfig)
    desk = load_yaml_model(REPO / "config" / "strategy_limits.yaml", StrategyLimitsConfig)
    assert hosted.strategies, "the second runner hosts nothing"
    overlap = {s.id for s in hosted.strategies} & {s.id for s in desk.strategies}
    assert not overlap, f"both runners would host {sorted(overlap)}"
    feed_symbols = set(shipped_stack().feed.symbols)
    for strategy in hosted.strategies:
        assert set(strategy.symbols) <= feed_symbols, f"{strategy.id} trades symbols the feed never publishes"
