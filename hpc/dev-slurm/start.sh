#!/usr/bin/env bash
# Start a single-node SLURM (munged + slurmctld + slurmd) with fake GPUs, for developing and
# testing daskhpo's SLURM support. Debian/Ubuntu, as root, with or without systemd.
#
# Idempotent: installs the packages if missing, (re)writes the configuration from the templates
# beside this script, starts whatever is not running, and returns quickly when all is up.
# hpc/dev-slurm/stop.sh stops only the daemons this script started.
#
# Settings (environment variables):
#   DASKHPO_SLURM_CPUS       CPU slots of the node (default 8; may exceed the real core count)
#   DASKHPO_SLURM_GPUS       fake GPUs of the node (default 2)
#   DASKHPO_SLURM_PARTITION  partition name (default debug)
#   DASKHPO_SLURM_FORCE=1    overwrite a slurm.conf this script did not write
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CPUS="${DASKHPO_SLURM_CPUS:-8}"
GPUS="${DASKHPO_SLURM_GPUS:-2}"
PARTITION="${DASKHPO_SLURM_PARTITION:-debug}"
STATE=/var/lib/daskhpo-slurm
RUN=/run/daskhpo-slurm
CONF_DIR=/etc/slurm
MARKER="written by hpc/dev-slurm/start.sh"
NODE="$(hostname -s)"

log() { printf 'dev-slurm: %s\n' "$*"; }
die() { printf 'dev-slurm: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and starts system daemons)"
[[ "$CPUS" =~ ^[1-9][0-9]*$ ]] || die "DASKHPO_SLURM_CPUS must be a positive integer, got '$CPUS'"
[[ "$GPUS" =~ ^[1-9][0-9]*$ ]] || die "DASKHPO_SLURM_GPUS must be a positive integer, got '$GPUS'"

# pid_of NAME COMM: the pid recorded in $RUN/NAME.pid if that process is alive and is COMM.
pid_of() {
    local file="$RUN/$1.pid" pid
    [ -s "$file" ] || return 1
    pid="$(tr -d '[:space:]' <"$file")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 1
    echo "$pid"
}

# running COMM: whether any process named COMM runs (no procps needed).
running() {
    local f
    for f in /proc/[0-9]*/comm; do
        [ "$(cat "$f" 2>/dev/null)" = "$1" ] && return 0
    done
    return 1
}

# stop_ours NAME COMM: stop a daemon this script started (TERM, then KILL after 10 s).
stop_ours() {
    local pid i
    pid="$(pid_of "$1" "$2")" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
        [ -d "/proc/$pid" ] || break
        sleep 0.1
    done
    [ -d "/proc/$pid" ] && kill -KILL "$pid" 2>/dev/null || true
    rm -f "$RUN/$1.pid"
}

# --------------------------------------------------------------------------- packages
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    log "installing slurmctld, slurmd, slurm-client and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi

# --------------------------------------------------------------------------- configuration
mkdir -p "$STATE"/slurmctld "$STATE"/slurmd "$STATE"/log "$STATE"/dev "$RUN" "$CONF_DIR"

# Fake GPUs: character devices like /dev/null; SLURM only needs device nodes to hand out.
for ((i = 0; i < GPUS; i++)); do
    dev="$STATE/dev/gpu$i"
    if [ ! -c "$dev" ]; then
        rm -f "$dev"
        mknod "$dev" c 1 3
    fi
done
if [ "$GPUS" = 1 ]; then gpu_files="$STATE/dev/gpu0"; else gpu_files="$STATE/dev/gpu[0-$((GPUS - 1))]"; fi

mem_mb=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024))
memory=$((mem_mb * 8 / 10))
defmem=$((memory / CPUS))
[ "$defmem" -gt 1024 ] && defmem=1024
[ "$defmem" -ge 100 ] || die "only ${mem_mb} MB of memory: too little for $CPUS job slots; lower DASKHPO_SLURM_CPUS"

render() {
    sed -e "s|@NODE@|$NODE|g" -e "s|@CPUS@|$CPUS|g" -e "s|@MEMORY@|$memory|g" \
        -e "s|@DEFMEM@|$defmem|g" -e "s|@GPUS@|$GPUS|g" -e "s|@STATE@|$STATE|g" \
        -e "s|@RUN@|$RUN|g" -e "s|@PARTITION@|$PARTITION|g" -e "s|@GPU_FILES@|$gpu_files|g" "$1"
}

changed=0
install_conf() { # install_conf TEMPLATE TARGET
    local new
    new="$(render "$1")"
    if [ -e "$2" ] && ! grep -q "$MARKER" "$2" && [ "${DASKHPO_SLURM_FORCE:-0}" != 1 ]; then
        die "$2 exists and was not $MARKER; this machine may run a real SLURM. Set DASKHPO_SLURM_FORCE=1 to overwrite it."
    fi
    if [ ! -e "$2" ] || [ "$new" != "$(cat "$2")" ]; then
        printf '%s\n' "$new" >"$2"
        changed=1
    fi
}
install_conf "$HERE/slurm.conf.in" "$CONF_DIR/slurm.conf"
install_conf "$HERE/gres.conf.in" "$CONF_DIR/gres.conf"

# --------------------------------------------------------------------------- munge
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge
    chmod 0755 /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        mkdir -p /etc/munge
        mungekey --create --keyfile=/etc/munge/munge.key
    fi
    chown munge:munge /etc/munge /etc/munge/munge.key
    chmod 0700 /etc/munge
    chmod 0400 /etc/munge/munge.key
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged --force
    for i in $(seq 1 50); do
        [ -s /run/munge/munged.pid ] && break
        sleep 0.1
    done
    cp /run/munge/munged.pid "$RUN/munged.pid"
    munge -n </dev/null | unmunge >/dev/null || die "munged started but does not answer; see /var/log/munge/munged.log"
fi

# --------------------------------------------------------------------------- slurm daemons
if [ "$changed" = 1 ]; then
    # A new configuration: restart the daemons we started (others we leave alone).
    stop_ours slurmd slurmd
    stop_ours slurmctld slurmctld
fi
if ! pid_of slurmctld slurmctld >/dev/null; then
    if running slurmctld; then
        die "a slurmctld this script did not start is running; stop it first"
    fi
    log "starting slurmctld (node $NODE, $CPUS CPUs, $GPUS fake GPUs, partition $PARTITION)"
    slurmctld -c # -c: clean state, so a DRAIN state does not survive restarts
fi
if ! pid_of slurmd slurmd >/dev/null; then
    if running slurmd; then
        die "a slurmd this script did not start is running; stop it first"
    fi
    log "starting slurmd"
    slurmd -N "$NODE"
fi

# --------------------------------------------------------------------------- wait until usable
state=""
for i in $(seq 1 150); do
    state="$(sinfo -h -n "$NODE" -o %t 2>/dev/null | head -n1 || true)"
    case "$state" in
        idle* | mix* | alloc*) break ;;
        drain* | drng* | inval*) scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 0.2
done
case "$state" in
    idle* | mix* | alloc*) ;;
    *) die "node $NODE is '${state:-unreachable}' after 30 s; see $STATE/log/slurmctld.log and $STATE/log/slurmd.log" ;;
esac

cat <<EOF
dev-slurm: SLURM is up: node $NODE ($state), $CPUS CPU slots, $GPUS fake GPUs, partition '$PARTITION'.
  Look at it:                      sinfo; squeue
  A job with one (fake) GPU:       srun --gres=gpu:1 env | grep CUDA_VISIBLE_DEVICES
  Dask workers on this one node talk over loopback:
                                   export DASK_JOBQUEUE__SLURM__INTERFACE=lo
  daskhpo's SLURM tests:           DASKHPO_REQUIRE_SLURM=1 python -m pytest tests/test_slurm.py
  Cancel all jobs, stop daemons:   bash $HERE/stop.sh
  Logs:                            $STATE/log/
EOF
