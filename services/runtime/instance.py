"""Instance names: which process of a service this is, when several run (strategy runners).

A process heartbeats under its instance name, so control's status, `ctl ping` and the silent-service
alert tell two runners apart. The name is the service's own (`strategy`) unless ORDERPATH_INSTANCE
gives another: the service's name, a dash and a suffix (`strategy-2`, `strategy-mm`), so the service
an instance belongs to can always be read off its name. An external strategy (docs/wire.md) heartbeats
as `strategy-<its strategy id>`, so the suffix takes what a strategy id may hold (letters, digits, _ and -).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from contracts.enums import ServiceName
from services.runtime.config.loader import ConfigError

INSTANCE_ENV = "ORDERPATH_INSTANCE"
_INSTANCE = re.compile(r"(?P<service>[a-z]+)(?:-[A-Za-z0-9_][A-Za-z0-9_-]*)?")


def service_of(instance: str) -> ServiceName | None:
    """The service an instance name belongs to (strategy-2 → strategy); None if it is not one."""
    match = _INSTANCE.fullmatch(instance)
    if match is None or match["service"] not in {str(name) for name in ServiceName}:
        return None
    return ServiceName(match["service"])


def instance_name(service: ServiceName, environ: Mapping[str, str]) -> str:
    """This process's name: $ORDERPATH_INSTANCE if set, else the service's. ConfigError if the variable
    names another service's instance or is not a name at all."""
    name = environ.get(INSTANCE_ENV) or str(service)
    if service_of(name) is not service:
        raise ConfigError(f"{INSTANCE_ENV}={name!r}: an instance of {service} is named {service} or "
                          f"{service}-SUFFIX (letters, digits, _, -), e.g. {service}-2")
    return name
