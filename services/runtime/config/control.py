"""The `control:` section of stack.yaml: where control keeps its state and audit, and how long it waits."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    """Like stack.Strict (which imports this module, so it cannot be imported from here)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class AlertsConfig(_Strict):
    """Where alerts go besides control's log (always) and the control PUB (topic `alert`)."""

    command: list[str] = Field(default_factory=list,
                               description="a program to run per alert (argv, no shell): the alert as JSON on "
                                           "stdin, ORDERPATH_ALERT_RULE/SEVERITY/SUBJECT/SUMMARY in its environment")
    command_timeout_ms: int = Field(5000, gt=0, description="killed and counted failed after this")
    webhook_url: str = Field("", pattern=r"^(https?://.+)?$", description="POST the alert as JSON here")
    webhook_timeout_ms: int = Field(3000, gt=0)
    min_severity: Literal["warning", "page"] = Field("page", description="the least severe alert the command and "
                                                                           "the webhook get (the log gets all)")
    queue: int = Field(100, gt=0, description="alerts waiting for the sinks; more are dropped and counted")
    budget_violations_per_min: int = Field(3, ge=0, description="more calls over budget than this in a minute "
                                                                "alert (the plan's rule)")
    kept: int = Field(200, gt=0, description="recent alerts `orderpath ctl alerts` can show")


class ControlConfig(_Strict):
    state_file: Path = Field(Path("control-state.json"),
                             description="control's state (forced levels, hold, kill switch, strategy switches), "
                                         "kept across restarts; relative to the stack's var_dir")
    audit_file: Path = Field(Path("control-audit.jsonl"),
                             description="append-only JSON lines, one per operator command; relative to var_dir")
    snapshot_retry_ms: int = Field(1000, gt=0, description="a service without control's state asks again this often")
    alerts: AlertsConfig = AlertsConfig()
    config_poll_ms: int = Field(1000, gt=0, description="how often control looks at the config files for a change")
    dump_timeout_ms: int = Field(1500, gt=0, description="how long control waits for the adapter's or risk's "
                                                         "answer to an orders or risk dump")
    adapter_hold_after_silence_ms: int = Field(
        5000, ge=0, description="the adapter holds fire (no new orders; cancels go) once nothing has come from "
                                "control for this long, until control is heard again; 0 never")
