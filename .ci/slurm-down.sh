#!/usr/bin/env bash
# Stop the single-node SLURM cluster started by .ci/slurm-up.sh.
#
# Cancels remaining jobs, then stops slurmd, slurmctld and (if slurm-up.sh started it)
# munged, each through the pid file slurm-up.sh left under $AOPFLOW_SLURM_DIR
# (default /tmp/aopflow-slurm). Daemons are never looked up by name, so nothing that this
# project did not start is touched. Safe to run when nothing is running.
#
# Options:
#   --keep-munge   leave munged running (used by slurm-up.sh when it restarts slurm)
#   --purge        also delete $AOPFLOW_SLURM_DIR (logs, state); /etc/slurm/slurm.conf stays
set -euo pipefail
# The daemons live in /usr/sbin, which a non-login root shell may lack in PATH.
export PATH="/usr/local/sbin:/usr/sbin:/sbin:$PATH"

readonly SLURM_DIR="${AOPFLOW_SLURM_DIR:-/tmp/aopflow-slurm}"
readonly STOP_SECONDS=30

keep_munge=0
purge=0
for arg in "$@"; do
    case $arg in
        --keep-munge) keep_munge=1 ;;
        --purge) purge=1 ;;
        -h | --help)
            sed -n '2,12p' "$0"
            exit 0
            ;;
        *)
            printf '[slurm-down] ERROR: unknown option %s (expected --keep-munge or --purge)\n' "$arg" >&2
            exit 2
            ;;
    esac
done

log() { printf '[slurm-down] %s\n' "$*"; }

if [[ $EUID -ne 0 ]]; then
    printf '[slurm-down] ERROR: must run as root (the daemons run as root); try: sudo bash %s\n' "$0" >&2
    exit 1
fi

# shellcheck source=.ci/slurm-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/slurm-lib.sh"

# stop_daemon NAME PIDFILE: SIGTERM, wait, then SIGKILL; remove the pid file.
stop_daemon() {
    local name=$1 pidfile=$2 pid i
    if ! pid_alive "$name" "$pidfile"; then
        if [[ -e $pidfile ]]; then
            log "$name not running (removing stale pid file $pidfile)"
            rm -f "$pidfile"
        else
            log "$name not running (no pid file $pidfile)"
        fi
        return 0
    fi
    pid=$(cat "$pidfile" 2>/dev/null) || return 0 # exited since the check
    log "stopping $name (pid $pid, SIGTERM)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_SECONDS * 10; i++)); do
        proc_is "$name" "$pid" || break
        sleep 0.1
    done
    if proc_is "$name" "$pid"; then
        log "$name (pid $pid) still alive after ${STOP_SECONDS}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    # Some daemons remove their own pid file on exit; remove it in any case.
    rm -f "$pidfile"
    log "$name stopped"
}

readonly CTLD_PID="$SLURM_DIR/run/slurmctld.pid"
readonly SLURMD_PID="$SLURM_DIR/run/slurmd.pid"
readonly MUNGED_PID="$SLURM_DIR/munge/munged.pid"

# Job steps (slurmstepd) outlive slurmd by design, so cancel jobs while the controller runs.
if pid_alive slurmctld "$CTLD_PID" && command -v squeue >/dev/null 2>&1; then
    mapfile -t jobs < <(squeue -h -t PENDING,RUNNING,SUSPENDED,COMPLETING -o '%i' 2>/dev/null || true)
    if ((${#jobs[@]} > 0)); then
        log "cancelling ${#jobs[@]} job(s): ${jobs[*]}"
        scancel "${jobs[@]}" 2>/dev/null || true
        for ((i = 0; i < 150; i++)); do
            [[ -z "$(squeue -h -t RUNNING,COMPLETING -o '%i' 2>/dev/null || true)" ]] && break
            sleep 0.2
        done
    else
        log "no queued or running jobs"
    fi
fi

stop_daemon slurmd "$SLURMD_PID"
stop_daemon slurmctld "$CTLD_PID"
if ((keep_munge)); then
    log "leaving munged running (--keep-munge)"
else
    stop_daemon munged "$MUNGED_PID"
fi

# Report (never kill) leftovers: a slurmstepd of a job that could not be cancelled, or a
# daemon this script has no pid file for. Reading /proc is only for this report.
find_leftovers() {
    local proc comm
    leftover=()
    for proc in /proc/[0-9]*; do
        comm=$(cat "$proc/comm" 2>/dev/null || true)
        case $comm in
            slurmctld | slurmscriptd | slurmd | slurmstepd | munged) ;;
            *) continue ;;
        esac
        # Zombies are dead already, only not yet reaped by their parent.
        [[ "$(sed 's/.*) //' "$proc/stat" 2>/dev/null | cut -d' ' -f1)" == Z ]] && continue
        if [[ $comm == munged ]]; then
            ((keep_munge)) || leftover+=("munged(pid ${proc#/proc/}, not started by slurm-up.sh?)")
        else
            leftover+=("$comm(pid ${proc#/proc/})")
        fi
    done
}
# Helpers (slurmscriptd, a finishing slurmstepd) exit shortly after their parent: give them 3 s.
for ((i = 0; i < 30; i++)); do
    find_leftovers
    ((${#leftover[@]} == 0)) && break
    sleep 0.1
done
if ((${#leftover[@]} > 0)); then
    log "WARNING: processes still running that this script did not stop: ${leftover[*]}"
else
    if ((keep_munge)); then log "no slurm daemon remains"; else log "no slurm or munge daemon remains"; fi
fi

if ((purge)); then
    log "removing $SLURM_DIR"
    rm -rf -- "$SLURM_DIR"
elif [[ -d $SLURM_DIR/log ]]; then
    log "logs kept in $SLURM_DIR/log"
fi
