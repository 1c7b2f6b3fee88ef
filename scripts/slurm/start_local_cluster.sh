#!/usr/bin/env bash
# Install (Debian packages), configure and start a single-node SLURM 22.05 cluster on this machine, with
# accounting (slurmdbd on a private MariaDB) so that `sacct` works as on a real cluster. Idempotent: running it
# again keeps what is installed and running and only starts what is down. Needs root and apt-get.
#
#   sudo scripts/slurm/start_local_cluster.sh      # then: sinfo; sbatch --wrap hostname; sacct
#   sudo scripts/slurm/stop_local_cluster.sh
#
# Facts this relies on (no systemd, no cgroups in containers): proctrack/linuxproc, task/none,
# select/cons_tres with DefMemPerCPU (otherwise one job takes the whole node), one fake GPU
# (gres.conf: Name=gpu File=/dev/null) so that jobs asking --gpus=1 are scheduled, MinJobAge 300.
# Everything lives under $C2AM_SLURM_STATE (default /var/lib/c2am-slurm); logs in $C2AM_SLURM_STATE/log.
set -euo pipefail

STATE=${C2AM_SLURM_STATE:-/var/lib/c2am-slurm}
CLUSTER=c2amlocal
DB_PORT=${C2AM_SLURM_DB_PORT:-3316}
HOST=$(hostname -s)

die() { echo "start_local_cluster: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (it installs Debian packages and starts daemons)"

# --- packages --------------------------------------------------------------------------------------------
PKGS="slurm-wlm slurmdbd munge mariadb-server"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
    command -v apt-get >/dev/null || die "apt-get not found; install$missing by hand"
    echo "installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || true
    apt-get install -y -qq --no-install-recommends $PKGS >/dev/null
fi

mkdir -p "$STATE"/{log,ctld,slurmd,mysql,run} /run/munge
CPUS=$(nproc)
MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)

# --- munge -----------------------------------------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown munge:munge /etc/munge/munge.key /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 400 /etc/munge/munge.key
if ! pgrep -x munged >/dev/null; then
    runuser -u munge -- /usr/sbin/munged </dev/null >/dev/null 2>&1
fi

# --- slurm.conf, gres.conf, slurmdbd.conf (written to .new, installed when they differ) -------------------------
CHANGED=""
install_conf() {  # install_conf FILE: move FILE.new over FILE when the content differs
    if cmp -s "$1.new" "$1"; then rm -f "$1.new"; else mv "$1.new" "$1"; CHANGED="$CHANGED $(basename "$1")"; fi
}
cat > /etc/slurm/slurm.conf.new <<EOF
# written by scripts/slurm/start_local_cluster.sh (single-node test cluster)
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
GresTypes=gpu
MinJobAge=300
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:1 State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
cat > /etc/slurm/gres.conf.new <<EOF
# one fake GPU: lets jobs that ask for --gpus=1 be scheduled on a machine without one
NodeName=$HOST Name=gpu File=/dev/null
EOF
cat > /etc/slurm/slurmdbd.conf.new <<EOF
AuthType=auth/munge
DbdHost=$HOST
DbdAddr=127.0.0.1
SlurmUser=root
PidFile=$STATE/run/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=c2am-local
StorageLoc=slurm_acct_db
EOF
chmod 600 /etc/slurm/slurmdbd.conf.new
for f in slurm.conf gres.conf slurmdbd.conf; do install_conf /etc/slurm/$f; done
if [ -n "$CHANGED" ]; then  # running daemons must not keep an old configuration
    echo "configuration changed:$CHANGED; restarting running SLURM daemons"
    for d in slurmd slurmctld slurmdbd; do pkill -x $d && while pgrep -x $d >/dev/null; do sleep 0.5; done; done
fi

# --- a private MariaDB for slurmdbd ----------------------------------------------------------------------------
MYSQL_SOCK=$STATE/run/mysqld.sock
if [ ! -d "$STATE/mysql/mysql" ]; then
    mariadb-install-db --user=root --datadir="$STATE/mysql" --auth-root-authentication-method=socket \
        >"$STATE/log/mariadb-install.log" 2>&1 || die "mariadb-install-db failed, see $STATE/log/mariadb-install.log"
fi
if ! mariadb-admin --socket="$MYSQL_SOCK" ping >/dev/null 2>&1; then
    mariadbd --user=root --datadir="$STATE/mysql" --socket="$MYSQL_SOCK" --port="$DB_PORT" \
        --bind-address=127.0.0.1 --pid-file="$STATE/run/mysqld.pid" --skip-log-bin \
        --innodb-buffer-pool-size=128M --innodb-lock-wait-timeout=900 --log-error="$STATE/log/mariadb.log" \
        </dev/null >>"$STATE/log/mariadb.log" 2>&1 &  # never hold the caller's stdout/stderr open
    for _ in $(seq 60); do mariadb-admin --socket="$MYSQL_SOCK" ping >/dev/null 2>&1 && break; sleep 0.5; done
    mariadb-admin --socket="$MYSQL_SOCK" ping >/dev/null 2>&1 || die "MariaDB did not start, see $STATE/log/mariadb.log"
fi
mariadb --socket="$MYSQL_SOCK" <<EOF
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'c2am-local';
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'c2am-local';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
EOF

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local seconds=$1 what=$2; shift 2
    for _ in $(seq $((seconds * 2))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
    die "$what did not come up; logs in $STATE/log"
}

# --- daemons ---------------------------------------------------------------------------------------------------
pgrep -x slurmdbd >/dev/null || /usr/sbin/slurmdbd </dev/null >/dev/null 2>&1
wait_for 30 slurmdbd sacctmgr -n list cluster
sacctmgr -n list cluster format=cluster | grep -qw "$CLUSTER" || sacctmgr -i add cluster "$CLUSTER" >/dev/null
sacctmgr -n list account format=account | grep -qw local || \
    sacctmgr -i add account local Cluster="$CLUSTER" Description=local Organization=local >/dev/null
for user in root ${SUDO_USER:-}; do
    sacctmgr -n show assoc user="$user" account=local format=account | grep -qw local || \
        sacctmgr -i add user "$user" Account=local Cluster="$CLUSTER" >/dev/null
done
pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld </dev/null >/dev/null 2>&1
wait_for 30 slurmctld scontrol ping
pgrep -x slurmd >/dev/null || /usr/sbin/slurmd </dev/null >/dev/null 2>&1
wait_for 30 "the node" sh -c "sinfo -h -N -o %t | grep -Eq '^(idle|mix|alloc)'"
echo "local SLURM cluster '$CLUSTER' is up: $(sinfo -h -N -o '%N %c CPUs %m MB %G %t')"
