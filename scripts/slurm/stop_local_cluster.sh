#!/usr/bin/env bash
# Stop the single-node SLURM cluster started by start_local_cluster.sh (slurmd, slurmctld, slurmdbd, its
# MariaDB, munged). Keeps the packages, the configuration and the accounting database; with --purge also
# deletes the state folder ($C2AM_SLURM_STATE, default /var/lib/c2am-slurm).
set -uo pipefail
STATE=${C2AM_SLURM_STATE:-/var/lib/c2am-slurm}
[ "$(id -u)" = 0 ] || { echo "stop_local_cluster: must run as root" >&2; exit 1; }

stop() {  # stop PROCESS-NAME: TERM, wait up to 10 s, then KILL
    pkill -x "$1" 2>/dev/null || return 0
    for _ in $(seq 20); do pgrep -x "$1" >/dev/null || return 0; sleep 0.5; done
    pkill -9 -x "$1" 2>/dev/null || true
}
command -v scancel >/dev/null && scancel --user=root 2>/dev/null
for daemon in slurmd slurmctld slurmdbd mariadbd munged; do stop "$daemon"; done
if [ "${1:-}" = --purge ]; then rm -rf "$STATE"; fi
echo "local SLURM cluster stopped"
