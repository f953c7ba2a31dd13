"""config/order_adapter.yaml: which broker the adapter talks to and how the simulator behaves."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from services.runtime.config.stack import Strict


class SimBrokerConfig(Strict):
    ack_latency_us: int = Field(200, ge=0, description="delay before the simulator answers a call")


class OrderAdapterConfig(Strict):
    broker: Literal["sim"] = "sim"
    sim: SimBrokerConfig = SimBrokerConfig()
    soft_cap: int = Field(250, gt=0, description="broker calls per 10 s (Shioaji: 250, shared by all order calls)")
    latency_samples: int = Field(65_536, gt=0, description="tick-to-trade samples kept for p50/p99")
