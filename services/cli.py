"""The `orderpath` console script: the one place that knows every service.

`orderpath up` runs the whole stack as local processes; `orderpath run NAME` runs one service;
`orderpath ctl …` talks to control.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from contracts.enums import ServiceName
from services.control.client import ControlUnreachable
from services.control.ctl import ctl, keys
from services.launcher import LocalStack, StackError
from services.runtime.config.check import check_stack, checked_files
from services.runtime.config.loader import ConfigError
from services.runtime.config.stack import load_stack, stack_file
from services.summary import progress_line, report, summarize

app = typer.Typer(add_completion=False, no_args_is_help=True, help="orderpath: strategy → risk → broker")
app.add_typer(ctl, name="ctl")
app.add_typer(keys, name="keys")
bench = typer.Typer(no_args_is_help=True, help="Benchmarks that print figures (they assert nothing).")
app.add_typer(bench, name="bench")
config_app = typer.Typer(no_args_is_help=True, help="The configuration files.")
app.add_typer(config_app, name="config")

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="stack.yaml (default: $ORDERPATH_CONFIG or config/stack.yaml)")
]

SERVICE_MODULES = {name: f"services.{name}.service" for name in ServiceName}
SUPERVISE_POLL_S = 0.1
"""How often `up` looks for a service that exited: a restart's backoff starts at 0.5 s."""
PROGRESS_EVERY_S = 1.0
START_UP_S = 3.0
"""Trading seconds the summary's tick-to-trade leaves out: the strategies' first orders come in bursts
that queue behind each other, which is start-up, not the path's latency (the whole run is shown apart)."""

FreshOption = Annotated[bool, typer.Option(
    "--fresh", help="start from a clean slate: move the last session (the adapter's journal, the simulated "
                    "broker's state, control's and risk's state) to var/archive/ first; without it the desk "
                    "continues")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"orderpath: {message}", err=True)
    return typer.Exit(code)


def _checked(config: Path | None, environ: dict[str, str] | None = None) -> None:
    """Refuse to start anything on a config that does not validate: every problem on the terminal, exit 2."""
    _, problems = check_stack(stack_file(config), None if environ is None else {**os.environ, **environ})
    if problems:
        typer.echo("\n".join(problems), err=True)
        raise _fail(f"{len(problems)} config file(s) refused; nothing was started. Fix them and try again "
                    "(`orderpath config check` checks without starting)")


@config_app.command("check")
def config_check(config: ConfigOption = None) -> None:
    """Validate stack.yaml and every file it names; exit 0 when all are valid, 2 with each problem if not."""
    stack, problems = check_stack(stack_file(config))
    if problems:
        typer.echo("\n".join(problems), err=True)
        raise typer.Exit(2)
    assert stack is not None
    for path in [stack_file(config), *checked_files(stack)]:
        typer.echo(f"ok  {path}")


@app.command()
def run(name: Annotated[ServiceName, typer.Argument(help="the service to run")], config: ConfigOption = None) -> None:
    """Run one service in the foreground until SIGINT or SIGTERM."""
    os.environ.setdefault("SJ_LOG_PATH", os.devnull)
    _checked(config)
    try:
        stack = load_stack(config)
    except ConfigError as exc:
        raise _fail(str(exc)) from exc
    main = importlib.import_module(SERVICE_MODULES[name]).main
    try:
        code = main(stack)
    except ConfigError as exc:
        raise _fail(str(exc)) from exc
    raise typer.Exit(code)


def _interrupt(signum: int, frame: object) -> None:
    """SIGINT and SIGTERM stop `up` the same way: every service is stopped in order."""
    raise KeyboardInterrupt


class BrokerChoice(StrEnum):
    sim = "sim"
    shioaji = "shioaji"
    fake_shioaji = "fake-shioaji"


@app.command()
def up(
    config: ConfigOption = None,
    duration: Annotated[float | None, typer.Option(
        help="stop after this many seconds of trading (counted once every service is up)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="final summary as one JSON line on stdout")] = False,
    broker: Annotated[BrokerChoice | None, typer.Option(
        help="override order_adapter.yaml's broker: sim; shioaji (SinoPac, with its shioaji: section and your "
             "keys in the environment); fake-shioaji (ShioajiBroker over the fake SDK, md through the quote "
             "bridge over the fake too)")] = None,
    fresh: FreshOption = False,
) -> None:
    """Run the whole stack on loopback, continuing the desk where the last run left it (--fresh: from a clean
    slate), restart a service that exits, show progress, stop on Ctrl-C or after --duration, summarise."""
    from services.adapter.brokers.factory import BROKER_ENV

    env = {} if broker is None else {BROKER_ENV: broker.value}
    if broker is BrokerChoice.fake_shioaji:
        env["ORDERPATH_FEED_SOURCE"] = "fake-shioaji"
    _run_stack(config, env, duration, as_json, until_replayed=False, fresh=fresh)


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(help="recorded stream: JSONL or CSV with Shioaji's field names, .gz allowed")],
    speed: Annotated[float, typer.Option(help="1 real time, N times faster, 0 as fast as possible")] = 1.0,
    strict: Annotated[bool, typer.Option("--strict", help="stop at the first malformed line")] = False,
    config: ConfigOption = None,
    duration: Annotated[float | None, typer.Option(
        help="stop after this many seconds of trading (counted once every service is up)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="final summary as one JSON line on stdout")] = False,
    fresh: FreshOption = False,
) -> None:
    """Run the whole stack on a recorded stream instead of the synthetic market, until it has all
    been published; malformed lines are skipped and counted (or stop the run with --strict)."""
    if not file.is_file():
        raise _fail(f"{file}: no such file; give a recorded stream such as data/sample_ticks.jsonl")
    env = {
        "ORDERPATH_FEED_SOURCE": "replay",
        "ORDERPATH_FEED_REPLAY_FILE": str(file.resolve()),
        "ORDERPATH_FEED_SPEED": repr(speed),
        "ORDERPATH_FEED_STRICT": "true" if strict else "",
    }
    _run_stack(config, env, duration, as_json, until_replayed=True, fresh=fresh)


@app.command()
def record(
    file: Annotated[Path, typer.Argument(help="where to write (JSONL, .gz to compress)")],
    source: Annotated[str, typer.Option(help="synthetic, shioaji (the broker's quotes, with order_adapter.yaml's "
                                             "shioaji: section) or fake-shioaji")] = "synthetic",
    events: Annotated[int | None, typer.Option(help="market events to record (synthetic: default 6000); "
                                                    "shioaji: quotes, no bound by default")] = None,
    rate: Annotated[float | None, typer.Option(help="synthetic only: events per second of recorded exchange "
                                                    "time (default 100)")] = None,
    duration: Annotated[float | None, typer.Option(help="shioaji only: stop after this many seconds")] = None,
    config: ConfigOption = None,
) -> None:
    """Write a market-data stream in the recorded format `orderpath replay` reads. From Shioaji it records
    until --events quotes, --duration seconds, or Ctrl-C."""
    from services.feed.recorder import RecordWriter, synthetic_session_start
    from services.feed.synthetic import SyntheticMarket
    from services.runtime.config.instruments import load_instruments

    if source not in ("synthetic", "shioaji", "fake-shioaji"):
        raise _fail(f"--source {source}: give synthetic, shioaji or fake-shioaji")
    if events is not None and events <= 0:
        raise _fail(f"--events {events}: give how many to record, at least 1")
    if rate is not None and not 0 < rate < float("inf"):
        raise _fail(f"--rate {rate}: give events per second, above 0")
    if duration is not None and not 0 < duration < float("inf"):
        raise _fail(f"--duration {duration}: give seconds, above 0")
    if source == "synthetic" and duration is not None:
        raise _fail("--duration bounds a recording of Shioaji's quotes; a synthetic one is --events long")
    if source != "synthetic" and rate is not None:
        raise _fail(f"--rate paces the synthetic market; {source}'s quotes come at the market's pace")
    try:
        stack = load_stack(config)
        if source != "synthetic":
            from services.feed.quote_recording import record_quotes

            written = record_quotes(stack, file, fake=source == "fake-shioaji", quotes=events, duration_s=duration)
            typer.echo(f"wrote {written} records ({written} {source} quotes of {', '.join(stack.feed.symbols)}) "
                       f"to {file}")
            return
        market = SyntheticMarket(load_instruments(stack.instruments_file), stack.feed.symbols, stack.feed.seed)
    except (ConfigError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    count = 6000 if events is None else events
    start_ns, step_ns = synthetic_session_start(), int(1e9 / (100.0 if rate is None else rate))
    with RecordWriter(file) as writer:
        for seq in range(1, count + 1):
            writer.write(market.next_event(seq, start_ns + seq * step_ns, 0))
    typer.echo(f"wrote {writer.records} records ({count} market events) to {file}")


def _run_stack(config: Path | None, env: dict[str, str], duration: float | None, as_json: bool, *,
               until_replayed: bool, fresh: bool) -> None:
    _checked(config, env)
    try:
        stack = LocalStack(stack_file(config), env=env)
    except ConfigError as exc:
        raise _fail(str(exc)) from exc
    # Installed explicitly: a shell starts background jobs with SIGINT ignored, and Python then keeps
    # it ignored, so `kill -INT` would not stop a backgrounded `orderpath up`.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    if stack.keys_created:
        typer.echo(f"made the operator plane's CURVE keys in {stack.config.curve.keys_dir} (first start); "
                   "`orderpath ctl` finds the operator's there", err=True)
    if not stack.config.curve.ops:
        typer.echo("WARNING: curve.ops is off in the stack's config: any local process can hold, cancel-all or "
                   "force StormGuard; remove `ops: false` to authenticate operators", err=True)
    typer.echo(f"starting the stack; service logs in {stack.log_dir}", err=True)
    failure: str | None = None
    warmed: dict[str, Any] | None = None  # control's status once start-up is over (START_UP_S)
    started = time.monotonic()  # re-read once every service is up: --duration is trading time
    if not fresh:
        typer.echo(f"continuing the desk in {stack.config.var_dir} (--fresh starts from a clean slate)", err=True)
    try:
        stack.start(fresh=fresh)
        typer.echo(f"all services up in {time.monotonic() - started:.1f}s; Ctrl-C to stop", err=True)
        # A loaded machine can take longer to start the stack than a short run lasts: counted from
        # here, --duration 6 is six seconds of trading, not of start-up.
        started = time.monotonic()
        replayed = False
        next_progress = time.monotonic() + PROGRESS_EVERY_S
        while duration is None or time.monotonic() - started < duration:
            time.sleep(SUPERVISE_POLL_S)
            stack.supervise()
            if time.monotonic() < next_progress:
                continue
            next_progress += PROGRESS_EVERY_S
            try:
                status = stack.status()
            except ControlUnreachable:
                typer.echo("control not answering (restarting?)", err=True)
                continue
            if warmed is None and time.monotonic() - started >= START_UP_S:
                warmed = status
            summary = summarize(status, warmed)
            typer.echo(progress_line(summary, time.monotonic() - started), err=True)
            if replayed:
                break  # one more second after the last event, for what it caused to settle
            replayed = until_replayed and summary["replay_finished"]
    except KeyboardInterrupt:
        typer.echo("stopping", err=True)
    except (StackError, ControlUnreachable) as exc:
        failure = str(exc)
    finally:
        codes = stack.stop()
    if failure is None:
        failure = next((f"{name} exited with code {code}; see {stack.log_dir / f'{name}.log'}"
                        for name, code in codes.items() if code not in (0, None)), None)
    summary = summarize(stack.final_status or {}, warmed)
    summary["duration_s"] = round(time.monotonic() - started, 1)
    if failure is None and until_replayed and summary["ticks"] == 0:
        failure = (f"the replay published no market event: {summary['bad_lines']} bad lines and "
                   f"{summary['trial_records']} trial-match records skipped; see {stack.log_dir / 'feed.log'}")
    summary["restarts"] = dict(sorted(stack.restarts.totals.items()))
    summary["ok"] = failure is None
    if failure:
        summary["error"] = failure
        typer.echo(f"orderpath: {failure}", err=True)
    typer.echo(json.dumps(summary) if as_json else report(summary))
    raise typer.Exit(0 if failure is None else 1)


@bench.command("tick-to-trade")
def bench_tick_to_trade(
    rate: Annotated[float, typer.Option(help="market events per second")] = 1000.0,
    duration: Annotated[float, typer.Option(help="seconds per run")] = 10.0,
    rounds: Annotated[int, typer.Option(help="raw/stack pairs, alternated")] = 3,
    transport: Annotated[str, typer.Option(help="tcp (loopback) or ipc (Unix domain sockets), raw and stack alike")
                         ] = "tcp",
    as_json: Annotated[bool, typer.Option("--json", help="also print the figures as one JSON line")] = False,
) -> None:
    """The stack's tick-to-trade against raw pyzmq forwarders over the same hops, in one run."""
    from bench.tick_to_trade import TRANSPORTS
    from bench.tick_to_trade import run as run_tick_to_trade

    if transport not in TRANSPORTS:
        raise _fail(f"--transport {transport}: one of {', '.join(TRANSPORTS)}")
    run_tick_to_trade(rate, duration, rounds, as_json=as_json, transport=transport)


if __name__ == "__main__":
    sys.exit(app())
