"""`orderpath ctl …`: the operator's commands, each one request to control's ops socket.

Human-readable output by default, `--json` for scripts. Exit codes: 0 done, 1 control refused (the
reason on stderr) or the operator said no, 2 control could not be asked (unreachable within
--timeout, its CURVE handshake refused, or a configuration problem). With curve.ops on, ctl connects
with the operator's key from the keys folder, or the secret key file $ORDERPATH_CTL_KEY names.
Destructive commands (cancel-all, force HALT) ask first, or take --yes; without a terminal to ask on
they need --yes.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from contracts.enums import ControlVerb, ServiceName, StormGuardLevel
from contracts.prices import format_price
from services.control.client import ControlUnreachable, OpsClient
from services.runtime.config.curve import CurveConfig
from services.runtime.config.loader import ConfigError
from services.runtime.config.stack import load_stack
from services.runtime.curve import KeysExist, init_keys, make_keypair, secret_path
from services.runtime.instance import service_of
from services.summary import report, summarize

ctl = typer.Typer(no_args_is_help=True, help="Operator commands, sent to control's ops socket.")
stormguard = typer.Typer(no_args_is_help=True, help="StormGuard state: force a level, release one; only an "
                                                    "operator leaves HALT.")
ctl.add_typer(stormguard, name="stormguard")

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="stack.yaml (default: $ORDERPATH_CONFIG or config/stack.yaml)")
]
TimeoutOption = Annotated[float, typer.Option("--timeout", help="seconds to wait for control")]
JsonOption = Annotated[bool, typer.Option("--json", help="print control's answer as one JSON object")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="do it without asking")]
CTL_KEY_ENV = "ORDERPATH_CTL_KEY"


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"orderpath: {message}", err=True)
    return typer.Exit(code)


def _client(config: Path | None, timeout_s: float) -> OpsClient:
    """A client of the stack's control; with curve.ops, it connects with the operator's key, or the secret key
    file $ORDERPATH_CTL_KEY names."""
    key_file = os.environ.get(CTL_KEY_ENV)
    try:
        stack = load_stack(config)
        return OpsClient.for_stack(stack, timeout_ms=int(timeout_s * 1000),
                                   key_file=Path(key_file) if key_file else None)
    except ConfigError as exc:
        raise _fail(str(exc)) from exc


def ops_request(config: Path | None, verb: ControlVerb, args: dict[str, str], timeout_s: float) -> dict[str, Any]:
    """Send one request to control; a clear message and exit code when it cannot be done."""
    try:
        reply = _client(config, timeout_s).request(verb, args)
    except ControlUnreachable as exc:
        raise _fail(str(exc)) from exc
    if not reply.ok:
        raise _fail(f"control refused {verb}: {reply.error}", 1)
    return reply.body


def _confirm(yes: bool, question: str) -> dict[str, str]:
    """The confirmation control wants for a destructive verb: --yes, or the operator's answer."""
    if yes:
        return {"confirmed": "yes"}
    if not sys.stdin.isatty():
        raise _fail(f"{question} Not run from a terminal, so nothing asked: add --yes to do it.", 1)
    if not typer.confirm(question, default=False):
        raise _fail("not done", 1)
    return {"confirmed": "yes"}


def _echo(body: dict[str, Any], as_json: bool, human: str) -> None:
    typer.echo(json.dumps(body, sort_keys=True) if as_json else human)


@ctl.command()
def status(config: ConfigOption = None, as_json: JsonOption = False, timeout_s: TimeoutOption = 2.0) -> None:
    """Each service's liveness, last heartbeat and counters; control's state (levels, hold, kill switch)."""
    body = ops_request(config, ControlVerb.STATUS, {}, timeout_s)
    if as_json:
        typer.echo(json.dumps(body))
        return
    for name, entry in body["services"].items():
        typer.echo(f"{name:<11} {entry['state']:<8} pid {entry['pid']:<8} "
                   f"last heartbeat {entry['heartbeat_age_s']:.1f}s ago  restarts {entry.get('restarts', 0)}")
        for stream, fresh in entry.get("streams", {}).items():
            typer.echo("  " + stream_line(stream, fresh))
    typer.echo(state_lines(body))
    typer.echo(report(summarize(body)))


def stream_line(stream: str, fresh: dict[str, Any]) -> str:
    """One subscribed stream of a service: its seqs (summed over the topics it takes), how long since anything
    new arrived, and how often its socket was made again."""
    published = "no live publisher" if fresh["published_seq"] < 0 else f"publisher at {fresh['published_seq']}"
    verdict = "DEAD, socket made again" if fresh["dead"] else "ok"
    return (f"{stream:<8} {verdict:<24} received {fresh['received_seq']}, {published}, "
            f"last new {fresh['age_s']:.1f}s ago, reconnects {fresh['reconnects']}")


def state_lines(body: dict[str, Any]) -> str:
    sg = body.get("stormguard", {})
    warning = body.get("security", {}).get("warning")
    lines = [f"WARNING   {warning}"] if warning else []
    lines += [f"control   state seq {body.get('control', {}).get('stormguard_seq')}"
             f"  hold fire {'ON' if sg.get('hold_fire') else 'off'}"
             f"  kill switch {'ON (cancel all)' if sg.get('cancel_all') else 'off'}"]
    if sg.get("forced"):
        lines.append("  forced by an operator: " + "  ".join(f"{s} {lvl}" for s, lvl in sg["forced"].items()))
    if sg.get("strategy_enabled"):
        lines.append("  strategy switches: " + "  ".join(
            f"{sid} {'enabled' if on else 'DISABLED'}" for sid, on in sg["strategy_enabled"].items()))
    for sid, entry in body.get("strategies", {}).items():
        if entry.get("external"):
            age = entry.get("heartbeat_age_s")
            seen = f" (last heartbeat {age:.1f}s ago)" if age is not None else ""
            lines.append(f"external  {sid:<16} {entry['state'].upper() if entry['state'] != 'alive' else 'connected'}"
                         f"{seen}  as {entry['instance']}")
    for file, entry in body.get("config", {}).items():
        behind = {name: v for name, v in entry["services"].items() if v != entry["version"]}
        running = "all on it" if not behind else "behind: " + ", ".join(f"{n} {v}" for n, v in behind.items())
        refused = f"  (file on disk REFUSED: {entry['error'].splitlines()[0]})" if entry.get("error") else ""
        lines.append(f"config    {file:<16} {entry['version']}  {running}{refused}")
    return "\n".join(lines)


def _instance(name: str) -> str:
    if service_of(name) is None:
        raise typer.BadParameter(f"{name!r} is no service ({', '.join(ServiceName)}) nor an instance of one "
                                 "(strategy-2)")
    return name


@ctl.command()
def ping(
    name: Annotated[str, typer.Argument(help="the service, or an instance of one (strategy-2), to ask about; "
                                             "`control` checks control answers", callback=_instance)],
    config: ConfigOption = None,
    timeout_s: TimeoutOption = 2.0,
) -> None:
    """Exit 0 if control has a recent heartbeat from NAME, 1 if it has not, 2 if control cannot be asked
    (the container healthcheck)."""
    try:
        reply = _client(config, timeout_s).request(ControlVerb.PING, {"service": name})
    except ControlUnreachable as exc:
        raise _fail(str(exc)) from exc
    if not reply.ok:
        raise _fail(f"{name} is not alive: {reply.error}", 1)
    typer.echo(f"{name} alive: pid {reply.body['pid']}, last heartbeat {reply.body['heartbeat_age_s']:.1f}s ago")


class StrategySwitch(StrEnum):
    enable = "enable"
    disable = "disable"


_STRATEGY_VERBS = {StrategySwitch.enable: ControlVerb.ENABLE_STRATEGY,
                   StrategySwitch.disable: ControlVerb.DISABLE_STRATEGY}


@ctl.command("strategy")
def strategy_switch(
    action: Annotated[StrategySwitch, typer.Argument(help="enable: trade again; disable: the runner stops "
                                                     "calling it and risk refuses its new orders (cancels pass)")],
    strategy_id: Annotated[str, typer.Argument(help="the strategy id from strategy_limits.yaml")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
    timeout_s: TimeoutOption = 2.0,
) -> None:
    """Enable or disable a strategy in the runner and in risk (kept by control across restarts)."""
    body = ops_request(config, _STRATEGY_VERBS[action], {"strategy": strategy_id}, timeout_s)
    _echo(body, as_json, f"{action}d: {body['strategy']}")


@stormguard.command("release")
def stormguard_release(
    scope: Annotated[str, typer.Option(help="'global' or a strategy id")] = "global",
    config: ConfigOption = None,
    as_json: JsonOption = False,
    timeout_s: TimeoutOption = 2.0,
) -> None:
    """Release a scope: lift an operator's forced level, and step risk's own HALT down to STORM, from where
    it recovers one level at a time."""
    body = ops_request(config, ControlVerb.STORMGUARD_RELEASE, {"scope": scope}, timeout_s)
    _echo(body, as_json, f"release of {body['released']} sent (it was {body['was']}, now {body['level']}); "
                         "risk steps its own HALT down to STORM")


class ForceLevel(StrEnum):
    NORMAL = "NORMAL"
    WARM = "WARM"
    STORM = "STORM"
    HALT = "HALT"


@stormguard.command("force")
def stormguard_force(
    level: Annotated[ForceLevel, typer.Argument(help="the level to hold the scope at, at least; NORMAL lifts it",
                                                case_sensitive=False)],
    scope: Annotated[str, typer.Option(help="'global' or a strategy id")] = "global",
    yes: YesOption = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    timeout_s: TimeoutOption = 2.0,
) -> None:
    """Force a scope to at least LEVEL (the stricter of risk's level and this counts) until released.
    HALT cancels every working order of the scope: it asks first (or --yes)."""
    args = {"scope": scope, "level": str(level)}
    if level == StormGuardLevel.HALT:
        args |= _confirm(yes, f"Force {scope} to HALT: cancel its working orders and pass nothing new?")
    body = ops_request(config, ControlVerb.STORMGUARD_FORCE, args, timeout_s)
    note = f" ({body['note']})" if body.get("note") else ""
    _echo(body, as_json, f"{body['scope']} forced {body['forced']}: now {body['level']}{note}")


@ctl.command()
def hold(config: ConfigOption = None, as_json: JsonOption = False, timeout_s: TimeoutOption = 2.0) -> None:
    """Hold fire: no new orders anywhere (risk and the adapter refuse them); cancels still pass. Until resume."""
    body = ops_request(config, ControlVerb.HOLD, {}, timeout_s)
    _echo(body, as_json, "holding fire: no new orders until `orderpath ctl resume`; cancels still pass")


@ctl.command()
def resume(config: ConfigOption = None, as_json: JsonOption = False, timeout_s: TimeoutOption = 2.0) -> None:
    """End hold fire and the kill switch: new orders may go again (StormGuard levels still apply)."""
    body = ops_request(config, ControlVerb.RESUME, {}, timeout_s)
    ended = [name for name, key in (("hold fire", "was_holding"), ("kill switch", "was_cancelling")) if body.get(key)]
    _echo(body, as_json, f"resumed: ended {' and '.join(ended)}" if ended else "resumed (nothing was held)")


@ctl.command("cancel-all")
def cancel_all(
    yes: YesOption = False, config: ConfigOption = None, as_json: JsonOption = False,
    timeout_s: TimeoutOption = 2.0,
) -> None:
    """The kill switch: the adapter cancels every working order and takes no new one until resume."""
    args = _confirm(yes, "Cancel every working order of the desk, and take no new one until resume?")
    body = ops_request(config, ControlVerb.CANCEL_ALL, args, timeout_s)
    _echo(body, as_json, "kill switch on: the adapter is cancelling every working order; "
                         "`orderpath ctl resume` lets orders go again")



@ctl.command()
def alerts(
    limit: Annotated[int, typer.Option(help="at most this many recent alerts")] = 20,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    timeout_s: TimeoutOption = 2.0,
) -> None:
    """The alerts control raised lately (newest last), the conditions that still hold, and totals per rule."""
    body = ops_request(config, ControlVerb.ALERTS, {"limit": str(limit)}, timeout_s)
    if as_json:
        typer.echo(json.dumps(body, sort_keys=True))
        return
    if not body["alerts"]:
        typer.echo("no alerts since control started")
    for alert in body["alerts"]:
        when = datetime.fromtimestamp(alert["ts_ns"] / 1e9, UTC).strftime("%H:%M:%S")
        typer.echo(f"{when}Z {alert['severity'].upper():<8} {alert['rule']:<18} {alert['subject']:<9} "
                   f"{alert['summary']}")
    typer.echo("still holding: " + (", ".join(body["active"]) or "nothing"))
    typer.echo("totals: " + (", ".join(f"{rule} {n}" for rule, n in sorted(body["totals"].items())) or "none")
               + f"  (sinks: {', '.join(body['sinks'])})")


config_app = typer.Typer(no_args_is_help=True, help="The config files control watches (strategy_limits.yaml, "
                                                    "order_adapter.yaml, instruments.yaml).")
ctl.add_typer(config_app, name="config")


@config_app.command("reload")
def config_reload(config: ConfigOption = None, as_json: JsonOption = False, timeout_s: TimeoutOption = 5.0) -> None:
    """Have control read every config file now: each valid change is taken (and followed by the services that
    reload it); an invalid file is refused with the reason and the running version stays (exit 1)."""
    try:
        reply = _client(config, timeout_s).request("config_reload", {})
    except ControlUnreachable as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps({"ok": reply.ok, "error": reply.error, **reply.body}, sort_keys=True))
    elif "files" not in reply.body:
        raise _fail(f"control refused config_reload: {reply.error}", 1)
    else:
        for file, outcome in reply.body["files"].items():
            typer.echo(f"{file}: {_reload_line(outcome)}")
    if not reply.ok:
        if not as_json:
            typer.echo(f"orderpath: refused:\n{reply.error}", err=True)
        raise typer.Exit(1)


def _reload_line(outcome: dict[str, Any]) -> str:
    if outcome["error"]:
        return f"REFUSED, version {outcome['version']} stays: {outcome['error']}"
    if not outcome["changed"]:
        return f"version {outcome['version']}, unchanged"
    where = ", ".join(outcome["live_in"]) or "control"
    later = f"; at the next restart of {', '.join(outcome['at_restart_of'])}" if outcome["at_restart_of"] else ""
    return f"reloaded {outcome['previous']} -> {outcome['version']}: live in {where}{later}"


orders_app = typer.Typer(no_args_is_help=True, help="The adapter's live orders.")
ctl.add_typer(orders_app, name="orders")
risk_app = typer.Typer(no_args_is_help=True, help="Risk's view: positions, PnL, StormGuard, limits.")
ctl.add_typer(risk_app, name="risk")


@orders_app.command("dump")
def orders_dump(
    strategy: Annotated[str | None, typer.Option(help="only this strategy's orders")] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    timeout_s: TimeoutOption = 3.0,
) -> None:
    """Every live order in the adapter (asked of the adapter through control), its gate and broker budget."""
    body = ops_request(config, ControlVerb.ORDERS_DUMP, {}, timeout_s)
    if strategy is not None:
        body["orders"] = [row for row in body["orders"] if row["strategy_id"] == strategy]
    if as_json:
        typer.echo(json.dumps(body, sort_keys=True))
        return
    gate = f"CLOSED ({', '.join(body['gate'])})" if body["gate"] else "open"
    typer.echo(f"{len(body['orders'])} live orders  gate {gate}  breaker {body['breaker']}  "
               f"broker calls {body['broker_usage']}/{body['soft_cap']} in 10 s")
    if body["orders"]:
        typer.echo(f"{'client_order_id':<28} {'strategy':<9} {'symbol':<7} {'side':<5} {'status':<17} "
                   f"{'price':>10} {'qty':>5} {'filled':>6} {'leaves':>6}  flags")
    for row in body["orders"]:
        flags = " ".join(name for name in ("cancel_pending", "unresolved") if row[name])
        typer.echo(f"{row['client_order_id']:<28} {row['strategy_id']:<9} {row['symbol']:<7} {row['side']:<5} "
                   f"{row['status']:<17} {format_price(row['price_e4']):>10} {row['qty']:>5} {row['cum_qty']:>6} "
                   f"{row['leaves_qty']:>6}  {flags}")


@risk_app.command("dump")
def risk_dump(config: ConfigOption = None, as_json: JsonOption = False, timeout_s: TimeoutOption = 3.0) -> None:
    """Positions and outstanding per strategy and symbol, PnL, drawdown, StormGuard levels and limits."""
    body = ops_request(config, ControlVerb.RISK_DUMP, {}, timeout_s)
    if as_json:
        typer.echo(json.dumps(body, sort_keys=True))
        return
    replaying = "  REPLAYING the journal (peaks held)" if body.get("replaying") else ""
    typer.echo(f"trading day {body.get('trading_day') or '?'}  hold fire {'ON' if body['hold_fire'] else 'off'}  "
               f"broker calls {body['broker_usage']} in 10 s{replaying}")
    typer.echo(f"{'scope':<9} {'level':<6} {'own':<6} {'control':<7} {'pnl TWD':>14} {'peak TWD':>14} {'drawdown':>9} "
               f"{'capital TWD':>14}  enabled")
    for scope in body["scopes"]:
        typer.echo(f"{scope['scope']:<9} {scope['level']:<6} {scope['own_level']:<6} {scope['control_level']:<7} "
                   f"{format_price(scope['pnl_e4']):>14} {format_price(scope.get('peak_pnl_e4', 0)):>14} "
                   f"{scope['drawdown_pct']:>8.2f}% {scope['capital_twd']:>14,}  {'yes' if scope['enabled'] else 'NO'}")
    typer.echo(f"{'strategy':<9} {'symbol':<7} {'position':>9} {'buying':>7} {'selling':>8}")
    for row in body["positions"]:
        typer.echo(f"{row['strategy_id']:<9} {row['symbol']:<7} {row['position']:>9} {row['outstanding_buy']:>7} "
                   f"{row['outstanding_sell']:>8}")
    for scope in body["scopes"]:
        typer.echo(f"limits {scope['scope']}: " + ", ".join(f"{k}={v}" for k, v in scope["limits"].items()))

keys = typer.Typer(no_args_is_help=True, help="CURVE keys for the ops socket (and, with curve.data, every socket).")
DirOption = Annotated[Path | None, typer.Option("--dir", help="the keys folder (default: curve.keys_dir of the stack)")]


def _keys_dir(config: Path | None, folder: Path | None) -> tuple[Path, CurveConfig]:
    try:
        curve = load_stack(config).curve
    except ConfigError as exc:
        raise _fail(str(exc)) from exc
    return (folder or curve.keys_dir), curve


@keys.command("init")
def keys_init(
    config: ConfigOption = None,
    folder: DirOption = None,
    force: Annotated[bool, typer.Option("--force", help="replace existing keys (every service and operator then "
                                                        "needs the new ones)")] = False,
) -> None:
    """Make the server key pair, the services' and the operator's (both allowed); private keys mode 0600."""
    keys_dir, curve = _keys_dir(config, folder)
    try:
        written = init_keys(keys_dir, curve, force=force)
    except KeysExist as exc:
        raise _fail(str(exc), 1) from exc
    for path in written:
        typer.echo(f"wrote {path} ({oct(path.stat().st_mode & 0o777)})")
    typer.echo(f"turn CURVE on with `curve: {{ops: true}}` in stack.yaml; give operators their own pair with "
               f"`orderpath keys add NAME` and remove {secret_path(keys_dir, curve.operator_key).name} from here")


@keys.command("add")
def keys_add(
    name: Annotated[str, typer.Argument(help="the operator's name, as the audit will record it")],
    config: ConfigOption = None,
    folder: DirOption = None,
) -> None:
    """Make a key pair for one more operator and allow its public key; hand NAME.key_secret to that operator
    (who sets $ORDERPATH_CTL_KEY to it)."""
    if not name.replace("-", "").replace("_", "").isalnum():
        raise _fail(f"{name!r}: a name is letters, digits, - and _", 1)
    keys_dir, _ = _keys_dir(config, folder)
    if secret_path(keys_dir, name).exists():
        raise _fail(f"{secret_path(keys_dir, name)} exists; remove it and allowed/{name}.key first to replace it", 1)
    for path in make_keypair(keys_dir, name, allow=True):
        typer.echo(f"wrote {path} ({oct(path.stat().st_mode & 0o777)})")
