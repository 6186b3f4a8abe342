#!/usr/bin/env bash
# Stop the single-node SLURM started by hpc/dev-slurm/start.sh: cancel every job first (job
# processes outlive slurmd), then stop only the daemons start.sh started, by the pids it
# recorded, after checking that each pid still is that daemon. Configuration and packages stay.
set -euo pipefail

RUN=/run/daskhpo-slurm

log() { printf 'dev-slurm: %s\n' "$*"; }

[ "$(id -u)" = 0 ] || { echo "dev-slurm: error: run as root" >&2; exit 1; }

pid_of() {
    local file="$RUN/$1.pid" pid
    [ -s "$file" ] || return 1
    pid="$(tr -d '[:space:]' <"$file")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 1
    echo "$pid"
}

stop_ours() {
    local pid i
    if ! pid="$(pid_of "$1" "$2")"; then
        rm -f "$RUN/$1.pid"
        return 0
    fi
    log "stopping $2 (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
        [ -d "/proc/$pid" ] || break
        sleep 0.1
    done
    if [ -d "/proc/$pid" ]; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$RUN/$1.pid"
}

if pid_of slurmctld slurmctld >/dev/null && command -v squeue >/dev/null; then
    jobs="$(squeue -h -o %i 2>/dev/null || true)"
    if [ -n "$jobs" ]; then
        log "cancelling jobs: $(echo "$jobs" | tr '\n' ' ')"
        # shellcheck disable=SC2086
        scancel $jobs 2>/dev/null || true
        for i in $(seq 1 150); do # KillWait is 5 s: TERM, then KILL
            [ -z "$(squeue -h -o %i -t PD,R,CG,S 2>/dev/null || true)" ] && break
            sleep 0.1
        done
    fi
fi

stop_ours slurmd slurmd
stop_ours slurmctld slurmctld
stop_ours munged munged
log "stopped"
