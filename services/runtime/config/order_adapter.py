"""config/order_adapter.yaml: which broker the adapter talks to, its limits, and how the simulator behaves."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from services.runtime.config.shioaji import ShioajiConfig
from services.runtime.config.stack import Strict

BrokerName = Literal["sim", "shioaji", "fake-shioaji"]


class SimBrokerConfig(Strict):
    """The embedded exchange simulator, with the faults a real broker shows (all off by default)."""

    ack_latency_us: int = Field(200, ge=0, description="delay before the simulator answers a call")
    latency_jitter_us: int = Field(0, ge=0, description="uniform extra delay, 0..jitter, per answer")
    tail_rate: float = Field(0.0, ge=0, le=1, description="share of calls that meet the broker's tail: processed "
                                                          "tail_latency_us later than the rest")
    tail_latency_us: int = Field(0, ge=0, description="the extra delay of a call in the tail")
    reject_rate: float = Field(0.0, ge=0, le=1, description="share of NEW orders rejected by the exchange")
    timeout_rate: float = Field(0.0, ge=0, le=1,
                                description="share of calls answered only after late_answer_ms (the call times "
                                            "out at the adapter, yet the order still goes live)")
    late_answer_ms: int = Field(5_000, ge=0, description="how late a timed-out call is answered")
    deal_before_ack_rate: float = Field(0.0, ge=0, le=1,
                                        description="share of matched orders whose deals come before the ack")
    duplicate_rate: float = Field(0.0, ge=0, le=1, description="share of events delivered twice")
    rate_cap: int = Field(250, gt=0, description="the broker's own budget: order calls per window")
    rate_window_ms: int = Field(10_000, gt=0)
    suspension_ms: int = Field(60_000, ge=0, description="how long the broker refuses calls after the budget is broken")
    session_down: bool = Field(False, description="start with the session down: every call raises")
    seed: int = Field(0, description="seed of the fault generator, so a run is reproducible")
    state_file: Path | None = Field(None, description="where the simulated broker keeps its orders and call log "
                                                      "(SQLite), so they outlive an adapter restart")
    closed_orders_kept: int = Field(10_000, gt=0,
                                    description="closed orders the simulator keeps in memory, newest first, for "
                                                "queries and late cancels of them (the state file keeps all)")
    calls_kept: int = Field(20_000, gt=0, description="calls kept in the simulator's in-memory call log, newest "
                                                      "first (the state file keeps all)")


class TimeoutsConfig(Strict):
    new_ms: int = Field(2_000, gt=0, description="a NEW with no answer by then is reported failed and queried")
    amend_ms: int = Field(2_000, gt=0)
    cancel_ms: int = Field(2_000, gt=0)
    query_ms: int = Field(2_000, gt=0)


class BreakerConfig(Strict):
    failures: int = Field(5, gt=0, description="timeouts or broker rejects within the window that open the breaker")
    window_ms: int = Field(10_000, gt=0)
    cooldown_ms: int = Field(30_000, gt=0, description="how long the breaker stays open before one probe order")


JournalDurability = Literal["process", "power"]
"""How far a journal commit must reach before the broker call: the OS (process) or the disk (power)."""


class JournalConfig(Strict):
    path: Path = Field(Path("adapter-journal.sqlite"), description="SQLite journal (WAL); a relative path is "
                                                                      "under the stack's var_dir")
    keep_reports: int = Field(1_000_000, gt=0, description="execution reports kept for replay; older ones are "
                                                           "pruned at start")
    durability: JournalDurability = Field(
        "process", description="process: a commit reaches the OS before the broker call, so it survives the adapter "
                               "being killed (kill -9 included) but not an OS crash or power loss; power: fsync on "
                               "every commit as well, which survives those too at milliseconds per order "
                               "(docs/adapter.md, 'Journal durability')")


class OrderAdapterConfig(Strict):
    broker: BrokerName = "sim"
    sim: SimBrokerConfig = SimBrokerConfig()
    shioaji: ShioajiConfig | None = Field(None, description="the Shioaji session (broker shioaji or fake-shioaji, "
                                                            "and the feed's quote bridge)")
    soft_cap: int = Field(250, gt=0, description="broker calls per 10 s (Shioaji: 250, shared by all order calls)")
    window_guard_ms: int = Field(500, ge=0, description="added to the limiter's 10 s window, so network jitter "
                                                         "or a clock difference never lets the broker count one "
                                                         "call too many in its own window")
    reserve: int = Field(25, ge=0, description="calls of the cap kept for cancels and the kill switch")
    slow_down_at: float = Field(0.8, gt=0, le=1, description="share of the cap at which risk is told to slow down")
    coalesce_window_ms: float = Field(5.0, ge=0, description="how long amends of one order are absorbed while the "
                                                             "previous amend is unanswered")
    timeouts: TimeoutsConfig = TimeoutsConfig()
    breaker: BreakerConfig = BreakerConfig()
    journal: JournalConfig = JournalConfig()
    unknown_broker_orders: Literal["cancel", "adopt"] = Field(
        "cancel", description="on start, what to do with working orders the broker has and the journal does not")

    @model_validator(mode="after")
    def _reserve_below_cap(self) -> OrderAdapterConfig:
        if self.reserve >= self.soft_cap:
            raise ValueError(f"reserve ({self.reserve}) must be below soft_cap ({self.soft_cap})")
        return self
