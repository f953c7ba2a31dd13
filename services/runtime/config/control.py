"""The `control:` section of stack.yaml: where control keeps its state and audit, and how long it waits."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    """Like stack.Strict (which imports this module, so it cannot be imported from here)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ControlConfig(_Strict):
    state_file: Path = Field(Path("control-state.json"),
                             description="control's state (forced levels, hold, kill switch, strategy switches), "
                                         "kept across restarts; relative to the stack's var_dir")
    audit_file: Path = Field(Path("control-audit.jsonl"),
                             description="append-only JSON lines, one per operator command; relative to var_dir")
    snapshot_retry_ms: int = Field(1000, gt=0, description="a service without control's state asks again this often")
