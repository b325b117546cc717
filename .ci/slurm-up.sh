#!/usr/bin/env bash
# Bring up a real single-node SLURM cluster (slurmctld + slurmd + munged) on this
# machine, for CI and for the tests marked `slurm`.
#
# Target: Debian bookworm (slurm-wlm 22.05), run as root, no systemd (containers, CI).
# No accounting daemon (slurmdbd): `sacct` does not work, so Snakemake profiles must use
# `slurm-status-command: squeue` and must not set `slurm_account`.
#
# Idempotent: a second run finds the daemons through their pid files and only waits for
# the node to be idle. Stop everything with .ci/slurm-down.sh (it uses the same pid files).
#
# Layout (override the root with AOPFLOW_SLURM_DIR):
#   /etc/slurm/slurm.conf                  the daemons and client commands read it there
#   $AOPFLOW_SLURM_DIR/run/*.pid           slurmctld and slurmd pid files
#   $AOPFLOW_SLURM_DIR/munge/munged.pid    munged pid file (only if this script started it)
#   $AOPFLOW_SLURM_DIR/log/*.log           daemon logs
#   $AOPFLOW_SLURM_DIR/state, spool        StateSaveLocation, SlurmdSpoolDir
#
# Environment:
#   AOPFLOW_SLURM_DIR       state root (default /tmp/aopflow-slurm)
#   AOPFLOW_SLURM_TIMEOUT   seconds to wait for the node to become idle (default 60)
#   AOPFLOW_SLURM_OVERWRITE_CONF=1  replace an /etc/slurm/slurm.conf this script did not write
#                                   (the old one is kept as slurm.conf.aopflow-backup.<time>)
set -euo pipefail
# The daemons live in /usr/sbin, which a non-login root shell may lack in PATH.
export PATH="/usr/local/sbin:/usr/sbin:/sbin:$PATH"

readonly SLURM_DIR="${AOPFLOW_SLURM_DIR:-/tmp/aopflow-slurm}"
readonly WAIT_SECONDS="${AOPFLOW_SLURM_TIMEOUT:-60}"
readonly CONF_DIR=/etc/slurm
readonly CONF="$CONF_DIR/slurm.conf"
readonly MUNGE_KEY=/etc/munge/munge.key
readonly NODE=localhost
readonly PARTITION=debug
readonly PACKAGES=(slurmctld slurmd slurm-client munge)
# Marker on the first line of the slurm.conf we write, so we never overwrite a real site config.
readonly CONF_MARKER="# Written by aopflow .ci/slurm-up.sh"

log() { printf '[slurm-up] %s\n' "$*"; }
die() {
    printf '[slurm-up] ERROR: %s\n' "$*" >&2
    exit 1
}

# shellcheck source=.ci/slurm-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/slurm-lib.sh"

show_logs() {
    local f
    for f in "$SLURM_DIR"/log/slurmctld.log "$SLURM_DIR"/log/slurmd.log "$SLURM_DIR"/log/munged.log; do
        [[ -e $f ]] || continue
        printf '[slurm-up] ----- last 25 lines of %s -----\n' "$f" >&2
        tail -n 25 "$f" >&2 || true
    done
}

# new_log NAME: keep one earlier log as NAME.log.prev, so the tails shown on failure come
# from this start only.
new_log() {
    local f="$SLURM_DIR/log/$1.log"
    if [[ -e $f ]]; then mv -f "$f" "$f.prev"; fi
}

fail_with_logs() {
    printf '[slurm-up] ERROR: %s\n' "$*" >&2
    show_logs
    printf '[slurm-up] (the "mpi/pmix ... can not load PMIx library" errors are harmless: no MPI is used)\n' >&2
    printf '[slurm-up] Fix the cause, then run .ci/slurm-down.sh and .ci/slurm-up.sh again.\n' >&2
    exit 1
}

if [[ $EUID -ne 0 ]]; then
    die "must run as root (it installs packages and starts daemons); try: sudo bash $0"
fi

start_time=$(date +%s.%N)

# ---------------------------------------------------------------- packages
# Everything the workflow tests call, plus the daemons.
needed_cmds=(slurmctld slurmd sinfo squeue sbatch scontrol scancel munged munge unmunge)
missing=()
for c in "${needed_cmds[@]}"; do
    command -v "$c" >/dev/null 2>&1 || missing+=("$c")
done
if ((${#missing[@]} == 0)); then
    log "packages already installed ($(slurmctld -V 2>/dev/null || echo 'slurmctld ?'))"
else
    log "missing commands: ${missing[*]}; installing ${PACKAGES[*]} with apt-get"
    # A policy-rc.d that exits 101 stops the packages' maintainer scripts from starting
    # services (there is no init system to manage them here; we start them ourselves below).
    # Only remove it afterwards if we created it (Docker images often ship one).
    created_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        log "creating /usr/sbin/policy-rc.d (exit 101) so package scripts do not start services"
        printf '#!/bin/sh\n# temporary, from aopflow .ci/slurm-up.sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        created_policy=1
        trap '[[ $created_policy == 1 ]] && rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Lock timeout: another apt run (e.g. a concurrent job) may hold the dpkg lock briefly.
    log "apt-get update"
    apt-get -o DPkg::Lock::Timeout=300 update -q \
        || die "apt-get update failed (no network or a broken apt source?); see the output above"
    log "apt-get install ${PACKAGES[*]}"
    apt-get -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0 install -y -q --no-install-recommends "${PACKAGES[@]}" \
        || die "apt-get install ${PACKAGES[*]} failed; see the output above"
    if [[ $created_policy == 1 ]]; then
        rm -f /usr/sbin/policy-rc.d
        created_policy=0
        log "removed the temporary /usr/sbin/policy-rc.d"
    fi
    for c in "${needed_cmds[@]}"; do
        command -v "$c" >/dev/null 2>&1 || die "command $c still missing after installing ${PACKAGES[*]}"
    done
    log "installed $(slurmctld -V)"
fi

# ---------------------------------------------------------------- directories
# A fixed path under /tmp is predictable; refuse one that someone else owns or that is a
# symlink, since root writes pid files and logs into it.
if [[ -L $SLURM_DIR ]] || { [[ -e $SLURM_DIR ]] && [[ "$(stat -c %u "$SLURM_DIR")" != 0 ]]; }; then
    die "$SLURM_DIR exists but is a symlink or not owned by root; remove it or set AOPFLOW_SLURM_DIR"
fi
install -d -m 0755 "$SLURM_DIR" "$SLURM_DIR/run" "$SLURM_DIR/log" "$SLURM_DIR/state" "$SLURM_DIR/spool"
# munged runs as the munge user and must be able to write its pid file and log.
install -d -m 0755 -o munge -g munge "$SLURM_DIR/munge" /run/munge
install -d -m 0700 -o munge -g munge /var/lib/munge /var/log/munge

# ---------------------------------------------------------------- munge
if [[ ! -s $MUNGE_KEY ]]; then
    log "creating munge key $MUNGE_KEY"
    install -d -m 0700 -o munge -g munge /etc/munge
    if command -v mungekey >/dev/null 2>&1; then
        mungekey --create --keyfile="$MUNGE_KEY" --force
    else
        dd if=/dev/urandom of="$MUNGE_KEY" bs=1 count=1024 status=none
    fi
else
    log "munge key $MUNGE_KEY exists"
fi
# munged refuses a key readable by others or owned by another user.
chown munge:munge "$MUNGE_KEY"
chmod 0400 "$MUNGE_KEY"

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
readonly MUNGED_PID="$SLURM_DIR/munge/munged.pid"
if pid_alive munged "$MUNGED_PID"; then
    log "munged already running (pid $(cat "$MUNGED_PID" 2>/dev/null))"
elif munge_works; then
    # Someone else's munged (e.g. the system's) already answers; slurm can use it.
    # slurm-down.sh leaves it alone because there is no pid file of ours.
    log "a munged not started by this script is already answering; using it"
else
    log "starting munged as user munge (log $SLURM_DIR/log/munged.log)"
    rm -f "$MUNGED_PID"
    new_log munged
    # munged writes its log itself; the log file must be writable by munge.
    install -m 0640 -o munge -g munge /dev/null "$SLURM_DIR/log/munged.log" 2>/dev/null || true
    runuser -u munge -- /usr/sbin/munged --pid-file="$MUNGED_PID" \
        --log-file="$SLURM_DIR/log/munged.log" --key-file="$MUNGE_KEY" \
        || fail_with_logs "munged failed to start"
fi
for _ in $(seq 1 50); do
    munge_works && break
    sleep 0.1
done
munge_works || fail_with_logs "munge does not work (munge -n | unmunge failed)"
log "munge credential round trip OK"

# ---------------------------------------------------------------- slurm.conf
ncpus=$(nproc)
mem_total_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
# Stay below physical memory: slurmd drains a node whose RealMemory exceeds what it finds,
# and the OS needs headroom.
real_mem_mb=$((mem_total_mb * 90 / 100))

new_conf=$(mktemp)
trap 'rm -f "$new_conf"; [[ ${created_policy:-0} == 1 ]] && rm -f /usr/sbin/policy-rc.d; true' EXIT
cat >"$new_conf" <<EOF
$CONF_MARKER (single-node CI cluster; do not edit, re-run the script)
ClusterName=aopflow
SlurmctldHost=$NODE
AuthType=auth/munge
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/run/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/run/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups and no systemd in containers: track processes via /proc, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
# Schedule cores and memory, so mem_mb/threads requests from Snakemake are honoured.
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# No slurmdbd: no accounting, so sacct cannot answer (use squeue for job status).
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Keep finished jobs visible to squeue/scontrol for 10 minutes so status polling sees them.
MinJobAge=600
ReturnToService=2
InactiveLimit=0
KillWait=10
Waittime=0
SlurmctldTimeout=120
SlurmdTimeout=300
MailProg=/bin/true
NodeName=$NODE CPUs=$ncpus RealMemory=$real_mem_mb State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

restart_needed=0
if [[ -e $CONF ]] && ! head -n 1 "$CONF" | grep -qF "$CONF_MARKER"; then
    if [[ ${AOPFLOW_SLURM_OVERWRITE_CONF:-0} == 1 ]]; then
        backup="$CONF.aopflow-backup.$(date +%Y%m%d%H%M%S)"
        log "AOPFLOW_SLURM_OVERWRITE_CONF=1: moving the existing $CONF to $backup"
        mv "$CONF" "$backup"
    else
        die "$CONF exists and was not written by this script (a real SLURM setup?); refusing to overwrite it. Set AOPFLOW_SLURM_OVERWRITE_CONF=1 to replace it (a backup is kept)."
    fi
fi
install -d -m 0755 "$CONF_DIR"
if [[ -e $CONF ]] && cmp -s "$new_conf" "$CONF"; then
    log "$CONF is up to date (node $NODE: CPUs=$ncpus RealMemory=${real_mem_mb}MB, partition $PARTITION)"
else
    log "writing $CONF (node $NODE: CPUs=$ncpus RealMemory=${real_mem_mb}MB of ${mem_total_mb}MB, partition $PARTITION)"
    install -m 0644 "$new_conf" "$CONF"
    restart_needed=1
fi

# ---------------------------------------------------------------- daemons
readonly CTLD_PID="$SLURM_DIR/run/slurmctld.pid"
readonly SLURMD_PID="$SLURM_DIR/run/slurmd.pid"

if ((restart_needed)) && { pid_alive slurmctld "$CTLD_PID" || pid_alive slurmd "$SLURMD_PID"; }; then
    # The node definition changed (e.g. different CPUs/memory): restart with the new conf.
    log "configuration changed while daemons run; restarting them"
    bash "$(dirname "$0")/slurm-down.sh" --keep-munge
fi

if pid_alive slurmctld "$CTLD_PID"; then
    log "slurmctld already running (pid $(cat "$CTLD_PID" 2>/dev/null))"
else
    # A controller answering without our pid file was started some other way; starting a
    # second one would fail on the port and slurm-down.sh could not stop the first one.
    if scontrol ping 2>/dev/null | grep -q 'is UP'; then
        die "a slurmctld not started by this script already answers on $NODE (its pid file $CTLD_PID is missing); stop it first"
    fi
    log "starting slurmctld -c -i (log $SLURM_DIR/log/slurmctld.log)"
    # -c: clear the saved state of an earlier run (jobs, and a DOWN/DRAIN node state that
    # would otherwise persist), so the CI cluster always starts empty.
    # -i: do not stop on unreadable state files.
    new_log slurmctld
    slurmctld -c -i || fail_with_logs "slurmctld exited with status $?"
fi

# slurmd must find the controller when it registers; wait until slurmctld answers.
deadline=$(($(date +%s) + WAIT_SECONDS))
until scontrol ping 2>/dev/null | grep -q 'is UP'; do
    pid_alive slurmctld "$CTLD_PID" || { sleep 0.5; pid_alive slurmctld "$CTLD_PID"; } \
        || fail_with_logs "slurmctld died during start-up"
    (($(date +%s) < deadline)) || fail_with_logs "slurmctld did not answer 'scontrol ping' within ${WAIT_SECONDS}s"
    sleep 0.2
done
log "slurmctld answers (pid $(cat "$CTLD_PID" 2>/dev/null))"

if pid_alive slurmd "$SLURMD_PID"; then
    log "slurmd already running (pid $(cat "$SLURMD_PID" 2>/dev/null))"
else
    log "starting slurmd -N $NODE (log $SLURM_DIR/log/slurmd.log)"
    new_log slurmd
    slurmd -N "$NODE" || fail_with_logs "slurmd exited with status $?"
fi

# ---------------------------------------------------------------- wait for idle
log "waiting up to ${WAIT_SECONDS}s for node $NODE to be idle in partition $PARTITION"
resumed=0
state=""
while :; do
    state=$(sinfo -h -N -n "$NODE" -p "$PARTITION" -o '%T' 2>/dev/null | head -n 1 || true)
    case $state in
        idle | mixed | allocated) break ;; # mixed/allocated: up, with jobs from an earlier run
        down* | drain*)
            # ReturnToService=2 normally returns the node on registration; if a stale state
            # keeps it down, resume it once.
            if ((resumed == 0)) && pid_alive slurmd "$SLURMD_PID"; then
                log "node is '$state'; resuming it"
                scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true
                resumed=1
            fi
            ;;
    esac
    pid_alive slurmctld "$CTLD_PID" || fail_with_logs "slurmctld died (node state '$state')"
    pid_alive slurmd "$SLURMD_PID" || { sleep 0.5; pid_alive slurmd "$SLURMD_PID"; } \
        || fail_with_logs "slurmd died (node state '$state')"
    if (($(date +%s) >= deadline)); then
        sinfo -N -l >&2 || true
        scontrol show node "$NODE" >&2 || true
        fail_with_logs "node $NODE not idle within ${WAIT_SECONDS}s (state '${state:-unknown}')"
    fi
    sleep 0.3
done

elapsed=$(awk -v a="$start_time" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
log "SLURM is up in ${elapsed}s: node $NODE is $state"
sinfo
log "stop it with: bash .ci/slurm-down.sh"
