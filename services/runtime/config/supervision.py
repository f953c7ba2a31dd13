"""The `supervision:` section of stack.yaml: how `orderpath up` restarts a service that exited.

Read by the launcher only (services/launcher.py, services/supervisor.py). Under compose the restart
policies in docker-compose.yml do this job instead.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SupervisionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    backoff_initial_ms: int = Field(500, gt=0, description="wait before the first restart of a service; doubled "
                                                          "for each further restart inside the window")
    backoff_max_ms: int = Field(10_000, gt=0, description="the longest wait before a restart")
    max_restarts: int = Field(5, ge=0, description="restarts of one service allowed inside the window; one more "
                                                  "and the stack stops, naming the service (0: never restart)")
    window_s: int = Field(60, gt=0, description="the window the restarts are counted in")
