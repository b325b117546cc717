#!/usr/bin/env bash
# Helpers shared by slurm-up.sh and slurm-down.sh (sourced, not run).

# proc_is NAME PID: true if PID is a live process whose command is NAME. Checking the
# command guards against a stale pid file whose pid was reused by another program.
proc_is() {
    local name=$1 pid=$2
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]] || return 1
    # A killed daemon stays a zombie until its parent reaps it (in containers PID 1 may be
    # slow to): count it as dead.
    [[ "$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" != Z ]]
}

# pid_alive NAME PIDFILE: true if PIDFILE names a live process whose command is NAME.
# The daemons delete their pid file on exit, so it may vanish between test and read.
pid_alive() {
    local pid
    pid=$(cat "$2" 2>/dev/null) || return 1
    proc_is "$1" "$pid"
}
