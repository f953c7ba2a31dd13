"""The `curve:` section of stack.yaml: which sockets run ZeroMQ CURVE, and where the keys are.

`orderpath keys init` makes the keys (services/runtime/curve.py); `orderpath up` and control make them on
first start when none exist. With `ops` on (the default), control's ops socket
accepts only the client keys in `<keys_dir>/allowed/`, and knows which one each request came with (the
audit's `key`). With `data` on, every other socket (the PUB/SUB streams, the order PUSH/PULL sockets
and exec_replay) is encrypted and accepts only allow-listed keys too; its cost is in docs/design.md.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class CurveConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ops: bool = Field(True, description="CURVE on control's ops socket: operators and services need an "
                                        "allow-listed key. The default; false opens the operator plane to "
                                        "any local process, and is warned about at every start")
    data: bool = Field(False, description="CURVE on every other socket (streams, orders, exec_replay)")
    keys_dir: Path = Field(Path("../keys"), description="made by `orderpath keys init`; relative to stack.yaml")
    service_key: str = Field("services", pattern=r"^[A-Za-z0-9_-]+$",
                             description="the key pair the services connect with; it may not run operator verbs")
    operator_key: str = Field("operator", pattern=r"^[A-Za-z0-9_-]+$",
                              description="the key pair `orderpath ctl` uses unless --key says otherwise")

    @property
    def enabled(self) -> bool:
        return self.ops or self.data
