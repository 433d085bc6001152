#!/usr/bin/env bash
# A real single-node SLURM on this machine, for `snakemake --profile slurm` and the real-SLURM test
# (tests/test_slurm.py). Debian/Ubuntu packages (SLURM 22.05 on Debian 12): munge, slurmctld, slurmd and
# slurmdbd with MariaDB — accounting is not optional, because the profile's executor plugin polls job
# states with `sacct`, which hangs without it. No systemd needed (containers, CI VMs): every daemon is
# started here and recorded, and `stop` ends only what this script started.
#
#   scripts/start-local-slurm.sh           start (installing the packages if missing); prints `sinfo`
#   scripts/start-local-slurm.sh status    exit 0 when a SLURM answers and `sacct` can query it
#   scripts/start-local-slurm.sh stop      stop the daemons this script started
#
# A SLURM that already answers (and has accounting) is used as is: nothing is installed or restarted.
# Exit status: 0 ready; 2 this machine cannot provide one (not root, no apt-get, packages not
# downloadable — the message says which); 1 anything else (the message names the log to read).
set -euo pipefail

CONF=/etc/slurm/slurm.conf
DBD_CONF=/etc/slurm/slurmdbd.conf
MARK="# written by start-local-slurm.sh (xlt); rewritten on every start"
STARTED=/run/start-local-slurm.started   # daemons this script started, one name a line (tmpfs: gone at boot)
LOGS=/var/log/slurm
PARTITION=${PARTITION:-debug}
PACKAGES="munge slurm-client slurmctld slurmd slurmdbd mariadb-server"
export DEBIAN_FRONTEND=noninteractive PATH=$PATH:/usr/sbin:/sbin   # the daemons live in sbin

say() { echo "start-local-slurm: $*"; }
cannot() { echo "start-local-slurm: cannot start a SLURM here: $*" >&2; exit 2; }
die() { echo "start-local-slurm: $*" >&2; exit 1; }

wait_until() {  # wait_until <seconds> <what, for the error> <command...>
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || die "$what did not come up within $1 s (logs: $LOGS/)"
    sleep 0.5
  done
}

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }   # alive <pid file>
node_usable() { sinfo -h -N -o %t 2>/dev/null | grep -Eq '^(idle|mix|alloc|comp)'; }
accounting_works() { sacct -n -X -S now >/dev/null 2>&1; }
answers() { command -v sinfo >/dev/null && node_usable && accounting_works; }
started() { echo "$1" >> "$STARTED"; }

if [ "${1:-start}" = status ]; then
  answers && { sinfo; exit 0; }
  say "no usable SLURM with accounting answers here"; exit 1
fi

if [ "${1:-start}" = stop ]; then
  [ -s "$STARTED" ] || { say "nothing to stop (no daemon was started by this script)"; exit 0; }
  declare -A PIDFILE=([slurmd]=/run/slurmd.pid [slurmctld]=/run/slurmctld.pid [slurmdbd]=/run/slurmdbd.pid
                      [mariadbd]=/run/mysqld/mysqld.pid [munged]=/run/munge/munged.pid)
  for daemon in slurmd slurmctld slurmdbd mariadbd munged; do   # the reverse of the start order
    grep -qx "$daemon" "$STARTED" || continue
    f=${PIDFILE[$daemon]}
    if alive "$f"; then
      pid=$(cat "$f"); kill "$pid"
      for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -0 "$pid" 2>/dev/null && die "$daemon (pid $pid) did not stop within 30 s"
      say "stopped $daemon"
    fi
  done
  rm -f "$STARTED" /run/slurmd.pid /run/slurmctld.pid /run/slurmdbd.pid
  exit 0
fi

[ "${1:-start}" = start ] || die "unknown command '$1'; use start, status or stop"

if answers; then
  say "a SLURM is already running here; using it as it is"
  sinfo
  exit 0
fi
if command -v sinfo >/dev/null && node_usable && ! grep -qxF "$MARK" "$CONF" 2>/dev/null; then
  die "a SLURM runs here but \`sacct\` cannot query it (no accounting storage?): the profile's executor polls
job states with sacct. Enable slurmdbd on it, or set \`slurm-status-command: squeue\` in your profile."
fi

# ---- from here on this script sets the machine up: root and a package manager it knows ----
[ "$(id -u)" -eq 0 ] || cannot "it needs root (it installs SLURM with apt-get and starts its daemons).
Run it as root or with sudo, or start a SLURM with accounting (slurmdbd) yourself."
if [ -e "$CONF" ] && ! grep -qxF "$MARK" "$CONF"; then
  die "$CONF exists and was not written by this script: it configures a SLURM this script does not manage,
which is not answering (sinfo/sacct). Start that one, or move the file away to let this script set one up."
fi

missing=""
for tool in munged slurmctld slurmd slurmdbd sinfo sbatch sacct mariadbd; do
  command -v "$tool" >/dev/null || missing="$missing $tool"
done
if [ -n "$missing" ]; then
  command -v apt-get >/dev/null || cannot "SLURM is not installed (missing:$missing) and there is no apt-get to
install it. Install munge, SLURM (slurmctld, slurmd, slurmdbd, client tools) and MariaDB with this system's
package manager, or use a machine with Debian/Ubuntu."
  say "installing $PACKAGES (about a minute)"
  # Without systemd, package scripts would try to start the services themselves: forbid it (policy-rc.d).
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  out=$(apt-get update -qq 2>&1) || cannot "\`apt-get update\` failed (no access to the package mirrors?):
$out"
  # shellcheck disable=SC2086
  out=$(apt-get install -y -qq --no-install-recommends $PACKAGES 2>&1) || cannot "\`apt-get install\` failed:
$(echo "$out" | tail -20)"
  say "[${SECONDS}s] packages installed"
fi

install -d -o slurm -g slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd "$LOGS"

# 1. munge: authentication between the daemons and the client tools
[ -s /etc/munge/munge.key ] || runuser -u munge -- mungekey --create
if ! (munge -n | unmunge) >/dev/null 2>&1; then
  install -d -o munge -g munge -m 0755 /run/munge
  runuser -u munge -- munged && started munged
  wait_until 10 "munged" sh -c 'munge -n | unmunge'
fi

# 2. slurm.conf for this one machine: the node line (CPUs, sockets, memory) is what slurmd detects
HOST=$(hostname -s)
NODELINE=$(slurmd -C | head -1)
case "$NODELINE" in NodeName=*) ;; *) die "\`slurmd -C\` did not print a node line: $NODELINE" ;; esac
mkdir -p /etc/slurm
cat > "$CONF.tmp" <<EOF
$MARK
ClusterName=local
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
MpiDefault=none
MailProg=/bin/true
# no cgroups here: jobs are tracked as process trees, memory requests are not enforced
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
SchedulerType=sched/backfill
# a node that was down (e.g. after stop) is usable again once its slurmd registers
ReturnToService=2
# finished jobs stay visible to squeue for 10 min (the plugin's fallback status command)
MinJobAge=600
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/linux
JobCompType=jobcomp/none
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
$NODELINE NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
mv "$CONF.tmp" "$CONF"

# 3. accounting: MariaDB (unless one runs) + slurmdbd; the database password is made once and kept
if ! mariadb-admin ping >/dev/null 2>&1; then
  install -d -o mysql -g mysql /run/mysqld
  setsid -f mariadbd --user=mysql >>"$LOGS/mariadbd.log" 2>&1 </dev/null && started mariadbd
  wait_until 60 "MariaDB" mariadb-admin ping
fi
PASS=$(sed -n 's/^StoragePass=//p' "$DBD_CONF" 2>/dev/null || true)
[ -n "$PASS" ] || PASS=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost'; ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$PASS';
            GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
umask 077
cat > "$DBD_CONF" <<EOF
$MARK
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
PidFile=/run/slurmdbd.pid
LogFile=$LOGS/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$PASS
StorageLoc=slurm_acct_db
EOF
umask 022
chown slurm:slurm "$DBD_CONF"
if ! alive /run/slurmdbd.pid; then
  slurmdbd && started slurmdbd
fi
wait_until 60 "slurmdbd" sacctmgr -n list cluster

# 4. the controller, then the compute daemon (both daemonize and write their pid files)
if ! alive /run/slurmctld.pid; then
  slurmctld && started slurmctld
fi
wait_until 30 "slurmctld" sh -c 'scontrol ping | grep -q "is UP"'
if ! alive /run/slurmd.pid; then
  slurmd && started slurmd
fi
wait_until 60 "node $HOST to be idle" node_usable

# 5. one job through the path the profile takes: sbatch, then its state from sacct
JOB=$(sbatch --parsable -p "$PARTITION" -o /dev/null --wrap true)
wait_until 60 "test job $JOB to show COMPLETED in sacct" \
  sh -c "sacct -X -n -P -j $JOB -o State | grep -qx COMPLETED"
sinfo
say "[${SECONDS}s] SLURM ready: partition $PARTITION on $HOST, accounting by slurmdbd (stop: $0 stop)"
