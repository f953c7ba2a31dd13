#!/usr/bin/env bash
# The compose stack on a real engine: build the one image, bring the five services up, wait until
# every one is healthy, see orders and fills grow (control's `orderpath ctl status --json`, asked
# inside control's container and once through the published ops port), replace risk and then the
# adapter with `up -d --force-recreate --no-deps` and see trading go on after each, then `down -v`.
# Every wait has a deadline; exit status 0 only when all of it held. `make smoke` runs it.
#
# It runs as its own compose project (orderpath-smoke: its own containers and volumes, never the
# desk's orderpath_*) with control's ops port published on a free port of 127.0.0.1, and with
# deploy/smoke/compose.yml over docker-compose.yml (capital so large that drawdown never stops the
# strategies: the check is about the containers). Needs docker, Compose v2 (`docker compose`) or
# docker-compose 1.29, python3 on the host, and the base image: python:3.11-slim, or, without Docker
# Hub, the one deploy/base-image.sh makes (used when python:3.11-slim is not there).
#
# env: COMPOSE                 the compose command (default: `docker compose`, else `docker-compose`)
#      ORDERPATH_PYTHON_IMAGE  the base image (see above)
#      DOCKER_BUILDKIT         default 0: the classic builder needs no frontend image from Docker Hub
set -euo pipefail
cd "$(dirname "$0")/.."

PROJECT=orderpath-smoke
SERVICES=(control adapter risk strategy feed)
LOCAL_BASE_IMAGE=orderpath-base:3.11-bookworm
BUILD_DEADLINE_S=900
UP_DEADLINE_S=420           # control, adapter, risk, strategy, feed, each healthy before the next starts
HEALTHY_DEADLINE_S=120
REPLACE_DEADLINE_S=120      # a healthcheck's first run is one interval (10 s) after the start
TRADING_DEADLINE_S=90
STATUS_TIMEOUT_S=30
DOWN_DEADLINE_S=180

log() { printf '%s smoke: %s\n' "$(date -u +%H:%M:%S)" "$*"; }
fail() { log "FAILED: $*"; exit 1; }

if [[ -n ${COMPOSE:-} ]]; then
    read -ra compose_cmd <<<"$COMPOSE"
elif docker compose version >/dev/null 2>&1; then
    compose_cmd=(docker compose)
elif command -v docker-compose >/dev/null; then
    compose_cmd=(docker-compose)
else
    fail "neither \`docker compose\` nor docker-compose is installed"
fi
timeout 30 docker info >/dev/null 2>&1 || fail "no Docker engine answers \`docker info\` (is dockerd running?)"
dc=("${compose_cmd[@]}" -p "$PROJECT" -f docker-compose.yml -f deploy/smoke/compose.yml)

export DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0}
if [[ -z ${ORDERPATH_PYTHON_IMAGE:-} ]] && ! docker image inspect python:3.11-slim >/dev/null 2>&1 \
        && docker image inspect "$LOCAL_BASE_IMAGE" >/dev/null 2>&1; then
    export ORDERPATH_PYTHON_IMAGE=$LOCAL_BASE_IMAGE
fi
ORDERPATH_OPS_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export ORDERPATH_OPS_PORT
log "compose: $("${compose_cmd[@]}" version | head -n 1); engine: $(docker version --format '{{.Server.Version}}')"
log "project $PROJECT, base image ${ORDERPATH_PYTHON_IMAGE:-python:3.11-slim}, DOCKER_BUILDKIT=$DOCKER_BUILDKIT, ops port 127.0.0.1:$ORDERPATH_OPS_PORT"

mkdir -p var/smoke

finish() {
    local status=$?
    trap - EXIT
    if ((status != 0)); then
        log "state at the failure:"
        timeout 60 "${dc[@]}" ps || true
        if [[ -s var/smoke/status.err ]]; then
            log "the last status query said:"
            tail -n 20 var/smoke/status.err
        fi
        for service in "${SERVICES[@]}"; do
            log "last log lines of $service:"
            timeout 60 "${dc[@]}" logs --no-color --tail 30 "$service" || true
        done
    fi
    log "down -v"
    timeout "$DOWN_DEADLINE_S" "${dc[@]}" down -v --remove-orphans || { log "FAILED: down -v"; status=1; }
    if [[ -n $(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT") ]] \
            || [[ -n $(docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT") ]]; then
        log "FAILED: containers or volumes of $PROJECT are left after down -v"
        status=1
    fi
    if ((status == 0)); then log "PASSED"; else log "exit $status"; fi
    exit "$status"
}
trap finish EXIT

# wait_until DEADLINE_S WHAT COMMAND...: COMMAND every 2 s until it succeeds; a failure after DEADLINE_S.
wait_until() {
    local deadline_s=$1 what=$2
    shift 2
    local until=$((SECONDS + deadline_s))
    until "$@"; do
        ((SECONDS < until)) || fail "$what: not within ${deadline_s} s"
        sleep 2
    done
}

container_of() { timeout 30 "${dc[@]}" ps -q "$1"; }

health_of() {
    local id
    id=$(container_of "$1") && [[ -n $id ]] || { echo absent; return; }
    docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$id"
}

is_healthy() { [[ $(health_of "$1") == healthy ]]; }

all_healthy() {
    local service
    for service in "${SERVICES[@]}"; do
        is_healthy "$service" || return 1
    done
}

healths() {
    local service out=()
    for service in "${SERVICES[@]}"; do out+=("$service=$(health_of "$service")"); done
    echo "${out[*]}"
}

# One line from control's status, summed up by the project's own summary (the figures `orderpath up`
# prints): orders placed and fills at the adapter, intents, each service's state, StormGuard's levels.
STATUS_PROBE='
import json, subprocess
from services.summary import summarize
answer = subprocess.run(["orderpath", "ctl", "status", "--json", "--timeout", "3"],
                        capture_output=True, text=True, check=True, timeout=20)
s = summarize(json.loads(answer.stdout))
states = ",".join(f"{name}:{state}" for name, state in s["services"].items())
levels = ",".join(f"{scope}:{level}" for scope, level in sorted(s["stormguard_levels"].items()))
print(s["orders"], s["fills"], s["intents"], states, levels or "-")
'
orders=0 fills=0 intents=0 states="" levels=""

read_status() {
    local line
    line=$(timeout "$STATUS_TIMEOUT_S" "${dc[@]}" exec -T control python -c "$STATUS_PROBE" 2>var/smoke/status.err) \
        || return 1
    read -r orders fills intents states levels <<<"$line"
}

grown_past() { read_status && ((orders > $1 && fills > $2)); }

# expect_trading WHEN: orders and fills grow past what control reports now.
expect_trading() {
    local when=$1 orders_before fills_before
    wait_until "$STATUS_TIMEOUT_S" "$when: control's status answers" read_status
    orders_before=$orders fills_before=$fills
    wait_until "$TRADING_DEADLINE_S" "$when: orders and fills grow past $orders_before and $fills_before" \
        grown_past "$orders_before" "$fills_before"
    log "$when: orders $orders_before -> $orders, fills $fills_before -> $fills, intents $intents"
    log "$when: services $states; StormGuard $levels"
}

# replace SERVICE: a new container for it, the others untouched, healthy again, trading going on.
replace() {
    local service=$1 old new others_before others_after other
    old=$(container_of "$service") || fail "$service: compose does not answer which container it is"
    others_before=$(for other in "${SERVICES[@]}"; do [[ $other == "$service" ]] || container_of "$other"; done)
    log "replacing $service (container ${old:0:12}): up -d --force-recreate --no-deps $service"
    timeout "$REPLACE_DEADLINE_S" "${dc[@]}" up -d --force-recreate --no-deps "$service" \
        || fail "up -d --force-recreate --no-deps $service"
    new=$(container_of "$service") || fail "$service: compose does not answer which container it is"
    [[ -n $new && $new != "$old" ]] || fail "$service: still container ${old:0:12}, not a new one"
    others_after=$(for other in "${SERVICES[@]}"; do [[ $other == "$service" ]] || container_of "$other"; done)
    [[ $others_after == "$others_before" ]] || fail "replacing $service recreated other containers too"
    wait_until "$REPLACE_DEADLINE_S" "the new $service container healthy" is_healthy "$service"
    log "$service replaced: container ${new:0:12} healthy, the other four untouched"
    expect_trading "after replacing $service"
}

log "build (one image, orderpath:latest)"
timeout "$BUILD_DEADLINE_S" "${dc[@]}" build || fail "build"
built=$(docker image inspect --format '{{.Id}}' orderpath:latest) || fail "the build tagged no orderpath:latest"

# The desk's strategy limits with the desk's and every strategy's capital at 10 bn TWD, validated as
# the services will read them, by the image just built.
SMOKE_LIMITS='
import sys, yaml
from services.runtime.config.strategy_limits import StrategyLimitsConfig
limits = yaml.safe_load(sys.stdin)
for scope in [limits.setdefault("global", {}), *limits["strategies"]]:
    scope["capital_twd"] = 10_000_000_000
StrategyLimitsConfig.model_validate(limits)
yaml.safe_dump(limits, sys.stdout, sort_keys=False)
'
docker run --rm -i --entrypoint python orderpath:latest -c "$SMOKE_LIMITS" \
    <config/strategy_limits.yaml >var/smoke/strategy_limits.yaml || fail "writing var/smoke/strategy_limits.yaml"

log "up -d"
timeout "$UP_DEADLINE_S" "${dc[@]}" up -d || fail "up -d"
wait_until "$HEALTHY_DEADLINE_S" "every service healthy" all_healthy
log "every service healthy: $(healths)"
for service in "${SERVICES[@]}"; do
    image=$(docker inspect --format '{{.Image}}' "$(container_of "$service")")
    [[ $image == "$built" ]] || fail "$service runs image $image, not the one built ($built)"
done
log "all five containers run the one image built, ${built:7:12}"

if [[ -x .venv/bin/orderpath ]]; then
    # The ops socket is CURVE-authenticated: the host's ctl needs the keys control made in the volume,
    # named by a copy of stack.yaml whose curve.keys_dir points at them.
    rm -rf var/smoke/keys && docker cp "$(container_of control)":/app/keys var/smoke/keys \
        || fail "copying the keys control made out of its container"
    .venv/bin/python -c 'import sys, yaml; s = yaml.safe_load(open("config/stack.yaml")); s["curve"]["keys_dir"] = sys.argv[1]; yaml.safe_dump(s, open("var/smoke/stack.yaml", "w"))' \
        "$PWD/var/smoke/keys" || fail "writing var/smoke/stack.yaml"
    ORDERPATH_OPS_ENDPOINT=tcp://127.0.0.1:$ORDERPATH_OPS_PORT timeout "$STATUS_TIMEOUT_S" \
        .venv/bin/orderpath ctl status --json --timeout 3 --config var/smoke/stack.yaml >var/smoke/host-status.json \
        || fail "orderpath ctl status through the published ops port 127.0.0.1:$ORDERPATH_OPS_PORT"
    log "ctl status through the published ops port answered ($(wc -c <var/smoke/host-status.json) bytes)"
else
    log "no .venv/bin/orderpath (make up makes it): ctl status through the published port not tried"
fi

expect_trading "after up"
replace risk
replace adapter
