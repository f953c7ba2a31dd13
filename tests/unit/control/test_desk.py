"""ControlDesk: each operator verb checked, applied, answered, audited and logged."""

from __future__ import annotations

import logging
from pathlib import Path

import msgspec
import pytest
import structlog
from structlog.testing import LogCapture

from contracts.enums import ServiceName, StormGuardLevel
from contracts.messages import ControlCommand, ControlReply, ControlRequest, Heartbeat, StormGuardState
from services.control.audit import AuditLog, read_audit
from services.control.authority import StormGuardAuthority
from services.control.desk import ControlDesk
from services.control.heartbeats import HeartbeatTracker
from services.control.replies import RecentReplies
from services.runtime.clock import FakeClock


class Desk:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = FakeClock()
        self.capture = LogCapture()
        log = structlog.wrap_logger(structlog.ReturnLogger(), processors=[self.capture],
                                    wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
        self.authority = StormGuardAuthority(self.clock, ["mm1", "mo1"], epoch=1)
        self.audit_path = tmp_path / "audit.jsonl"
        self.broadcasts = 0
        self.asked = 0
        self.commands: list[ControlCommand] = []
        self.desk = ControlDesk(self.clock, log, self.authority, HeartbeatTracker(self.clock, 3_000_000_000),
                                ["mm1", "mo1"], AuditLog(self.audit_path, self.clock),
                                state_changed=self._changed, send_command=self.commands.append)

    def _changed(self) -> None:
        self.broadcasts += 1

    def ask(self, verb: str, key: str = "operator", **args: str) -> ControlReply:
        """A new request (its own id: a repeated id is a retry, answered from memory)."""
        self.asked += 1
        return self.desk.handle(ControlRequest(request_id=f"r-{self.asked}-{verb}", verb=verb, args=args,
                                               who="ann@desk"), key)

    def audit(self) -> list[dict]:
        return read_audit(self.audit_path)


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    return Desk(tmp_path)


def test_hold_and_resume_change_the_state_and_are_audited(desk: Desk) -> None:
    held = desk.ask("hold")
    assert held.ok and desk.authority.hold_fire and desk.broadcasts == 1
    again = desk.ask("hold")
    assert again.ok and desk.broadcasts == 1, "holding twice changes nothing, so nothing is broadcast"
    resumed = desk.ask("resume")
    assert resumed.ok and resumed.body["was_holding"] and not desk.authority.hold_fire
    records = desk.audit()
    assert [r["verb"] for r in records] == ["hold", "hold", "resume"]
    assert records[0]["who"] == "ann@desk" and records[0]["key"] == "operator" and records[0]["ok"] is True
    assert records[0]["ts"].endswith("+00:00") and records[0]["ts_ns"] == desk.clock.wall_ns()
    logged = [e for e in desk.capture.entries if e["event"] == "ops_request"]
    assert len(logged) == 3 and logged[0]["who"] == "ann@desk"


def test_cancel_all_needs_confirmation(desk: Desk) -> None:
    refused = desk.ask("cancel_all")
    assert not refused.ok and "confirmed=yes" in refused.error
    assert not desk.authority.cancel_all and desk.broadcasts == 0
    done = desk.ask("cancel_all", confirmed="yes")
    assert done.ok and desk.authority.cancel_all and desk.broadcasts == 1
    resumed = desk.ask("resume")
    assert resumed.body["was_cancelling"] and not desk.authority.cancel_all
    assert [(r["verb"], r["ok"]) for r in desk.audit()] == [("cancel_all", False), ("cancel_all", True),
                                                             ("resume", True)]
    assert "confirmed=yes" in desk.audit()[0]["result"], "the refusal's reason is in the audit"


def test_force_halt_needs_confirmation_and_other_levels_do_not(desk: Desk) -> None:
    assert not desk.ask("stormguard_force", scope="mm1", level="HALT").ok
    warm = desk.ask("stormguard_force", scope="mm1", level="warm")
    assert warm.ok and warm.body["level"] == StormGuardLevel.WARM
    halt = desk.ask("stormguard_force", scope="mm1", level="HALT", confirmed="yes")
    assert halt.ok and desk.authority.level("mm1") is StormGuardLevel.HALT
    transitions = [e for e in desk.capture.entries if e["event"] == "stormguard_transition"]
    assert transitions[-1]["stormguard_state"] is StormGuardLevel.HALT
    assert "ann@desk (key operator)" in transitions[-1]["reason"]


def test_force_refuses_unknown_scopes_and_levels(desk: Desk) -> None:
    assert "unknown scope 'ghost'" in desk.ask("stormguard_force", scope="ghost", level="WARM").error
    assert "unknown level 'HOT'" in desk.ask("stormguard_force", scope="mm1", level="HOT").error
    assert desk.broadcasts == 0


def test_force_below_risks_level_says_risks_counts(desk: Desk) -> None:
    desk.authority.resync({"mm1": StormGuardLevel.STORM})
    reply = desk.ask("stormguard_force", scope="mm1", level="WARM")
    assert reply.ok and reply.body["level"] == StormGuardLevel.STORM
    assert "stricter" in reply.body["note"]


def test_release_lifts_the_floor_and_tells_risk(desk: Desk) -> None:
    desk.ask("stormguard_force", scope="global", level="HALT", confirmed="yes")
    reply = desk.ask("stormguard_release", scope="global")
    assert reply.ok and reply.body["was"] == StormGuardLevel.HALT and reply.body["level"] == StormGuardLevel.NORMAL
    assert [(c.verb, c.target) for c in desk.commands] == [("stormguard_release", "global")]


def test_strategy_switches_are_state(desk: Desk) -> None:
    assert desk.ask("disable_strategy", strategy="mm1").ok
    assert desk.authority.current().strategy_enabled == {"mm1": False}
    refused = desk.ask("enable_strategy", strategy="ghost")
    assert not refused.ok and "mm1" in refused.error


def test_snapshot_is_the_current_state_and_not_audited(desk: Desk) -> None:
    desk.ask("hold")
    reply = desk.ask("snapshot", key="services")
    state = msgspec.convert(reply.body["state"], StormGuardState)
    assert state == desk.authority.current()
    assert [r["verb"] for r in desk.audit()] == ["hold"]


def test_unknown_verb_lists_the_verbs(desk: Desk) -> None:
    reply = desk.ask("launch")
    assert not reply.ok and "cancel_all" in reply.error and "hold" in reply.error


def test_two_runners_are_two_entries_each_pinged_by_its_instance_name(desk: Desk) -> None:
    tracker = desk.desk.tracker
    tracker.on_heartbeat(Heartbeat(service=ServiceName.STRATEGY, pid=11, seq=1, ts_ns=0, instance="strategy"))
    tracker.on_heartbeat(Heartbeat(service=ServiceName.STRATEGY, pid=12, seq=1, ts_ns=0, instance="strategy-2"))
    services = desk.ask("status").body["services"]
    assert {name: (entry["service"], entry["pid"]) for name, entry in services.items()} == {
        "strategy": ("strategy", 11), "strategy-2": ("strategy", 12)}
    assert desk.ask("ping", service="strategy-2").body["pid"] == 12
    tracker.on_heartbeat(Heartbeat(service=ServiceName.STRATEGY, pid=12, seq=2, ts_ns=0, instance="strategy-2",
                                   final=True))
    stopped = desk.ask("ping", service="strategy-2")
    assert not stopped.ok and "strategy-2 stopped" in stopped.error
    assert desk.ask("ping", service="strategy").ok, "the other runner is still alive"
    unknown = desk.ask("ping", service="runner-2")
    assert not unknown.ok and "unknown service 'runner-2'" in unknown.error


def test_a_heartbeat_without_an_instance_name_counts_under_its_service(desk: Desk) -> None:
    desk.desk.tracker.on_heartbeat(Heartbeat(service=ServiceName.RISK, pid=7, seq=1, ts_ns=0))
    assert desk.ask("ping", service="risk").body["pid"] == 7


def _request(request_id: str, verb: str, **args: str) -> ControlRequest:
    return ControlRequest(request_id=request_id, verb=verb, args=args, who="ann@desk")


def test_a_repeated_request_gets_its_first_answer_and_runs_nothing(desk: Desk) -> None:
    """ctl retries with the same id when an answer is lost: the verb must not run twice."""
    first = desk.desk.handle(_request("retry-1", "stormguard_force", scope="mm1", level="STORM"), "operator")
    desk.ask("stormguard_force", scope="mm1", level="NORMAL")  # the desk moved on since
    broadcasts, audited = desk.broadcasts, len(desk.audit())
    again = desk.desk.handle(_request("retry-1", "stormguard_force", scope="mm1", level="STORM"), "operator")
    assert again == first and first.ok
    assert desk.authority.forced.get("mm1") in (None, StormGuardLevel.NORMAL), "the repeat forced nothing again"
    assert (desk.broadcasts, len(desk.audit())) == (broadcasts, audited)
    assert [e["request_id"] for e in desk.capture.entries if e["event"] == "ops_request_repeat"] == ["retry-1"]


def test_a_repeat_under_another_key_is_a_new_request(desk: Desk) -> None:
    desk.desk.handle(_request("same-id", "hold"), "operator")
    desk.desk.handle(_request("same-id", "resume"), "ann")
    assert not desk.authority.hold_fire, "ann's request ran: answers are remembered per key"


def test_an_id_reused_for_another_verb_is_refused(desk: Desk) -> None:
    desk.desk.handle(_request("id-1", "hold"), "operator")
    refused = desk.desk.handle(_request("id-1", "resume"), "operator")
    assert refused is not None and not refused.ok and "was hold" in refused.error
    assert desk.authority.hold_fire
    assert any(e["event"] == "ops_request_id_reused" for e in desk.capture.entries)


def test_reading_verbs_run_again_on_a_repeat(desk: Desk) -> None:
    first = desk.desk.handle(_request("s-1", "status"), "operator")
    desk.desk.handle(_request("h-1", "hold"), "operator")
    again = desk.desk.handle(_request("s-1", "status"), "operator")
    assert first is not None and again is not None
    assert not first.body["stormguard"]["hold_fire"] and again.body["stormguard"]["hold_fire"]


def test_the_memory_forgets_the_oldest_past_its_capacity() -> None:
    replies = RecentReplies(capacity=2)
    for n in range(3):
        replies.remember("operator", f"r{n}", "hold", ControlReply(request_id=f"r{n}", ok=True))
    assert replies.get("operator", "r0") is None and len(replies) == 2
    remembered = replies.get("operator", "r2")
    assert remembered is not None and remembered.verb == "hold"
