#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, in a private state directory: munged + slurmctld + slurmd
# from Debian's munge and slurm-wlm, on free 127.0.0.1 ports, with their own munge key, socket, spool and logs.
# Nothing under /etc or /run is touched, so several of these can run side by side with a site's own Slurm.
#
#   scripts/slurm-local.sh start DIR     start the daemons (DIR must not exist or be empty); prints the env line
#   scripts/slurm-local.sh env DIR       prints: export SLURM_CONF=DIR/slurm.conf (what sbatch/squeue need)
#   scripts/slurm-local.sh stop DIR      stops the daemons it started (by their pid files) and waits for them
#   scripts/slurm-local.sh status DIR    sinfo of the local cluster
#
# Needs root (slurmd runs jobs as the submitting user and must setuid; munged checks key ownership), the
# packages slurm-wlm and munge (scripts/install-deps.sh), and exits 77 with "skipped: ..." when it cannot
# start, so tests can tell "cannot run here" from "broken".
# Known to work (Debian 12, slurm 22.05): ProctrackType=proctrack/linuxproc (no cgroup setup needed),
# TaskPlugin=task/none, SelectType=select/cons_tres; MPI inside a job: mpiexec in the batch script or
# srun --mpi=pmi2 (the pmix plugin does not load here).
set -euo pipefail

die() { echo "slurm-local: $*" >&2; exit 1; }
skip() { echo "skipped: $*"; exit 77; }

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|env|status DIR" >&2; exit 2; }

free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: polls until COMMAND succeeds
  local limit=$1 what=$2; shift 2
  local t=0
  until "$@" >/dev/null 2>&1; do
    t=$((t + 1))
    [ "$t" -le $((limit * 5)) ] || return 1
    sleep 0.2
  done
}

stop_pidfile() {  # stop_pidfile FILE NAME: SIGTERM, wait up to 20 s, then SIGKILL; only the pid in FILE
  local f=$1 name=$2 pid
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if kill -0 "$pid" 2>/dev/null && grep -q "$name" "/proc/$pid/comm" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$f"
}

case "$cmd" in
  env)
    [ -f "$dir/slurm.conf" ] || die "$dir/slurm.conf: no local cluster here (run: $0 start $dir)"
    echo "export SLURM_CONF=$dir/slurm.conf"
    ;;
  status)
    SLURM_CONF="$dir/slurm.conf" sinfo
    ;;
  stop)
    # slurmd first (it may be running job steps), then the controller, then munge.
    if [ -f "$dir/slurm.conf" ] && [ -s "$dir/slurmctld.pid" ]; then
      SLURM_CONF="$dir/slurm.conf" timeout 10 scancel --quiet --full --user="$(id -un)" 2>/dev/null || true
    fi
    stop_pidfile "$dir/slurmd.pid" slurmd
    stop_pidfile "$dir/slurmctld.pid" slurmctld
    stop_pidfile "$dir/munged.pid" munged
    echo "slurm-local: stopped ($dir)"
    ;;
  start)
    [ "$(id -u)" = 0 ] || skip "local Slurm needs root (slurmd must setuid to the job's user); uid $(id -u)"
    for b in munged slurmctld slurmd sbatch squeue sinfo scontrol; do
      command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || skip "$b not installed (Debian: apt-get install slurm-wlm munge)"
    done
    export PATH="$PATH:/usr/sbin"
    if [ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then die "$dir: exists and is not empty"; fi
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    chmod 0700 "$dir"
    mkdir -p "$dir/ctld" "$dir/spool" "$dir/munge"
    chmod 0700 "$dir/munge"
    # munge: a private key, socket and seed; never the system's.
    head -c 1024 /dev/urandom > "$dir/munge/munge.key"
    chmod 0400 "$dir/munge/munge.key"
    if ! munged --force --socket="$dir/munge/munge.sock" --key-file="$dir/munge/munge.key" \
         --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge/munged.seed" \
         > "$dir/munged.out" 2>&1; then
      cat "$dir/munged.out" "$dir/munged.log" 2>/dev/null | tail -5 >&2
      skip "munged did not start (see $dir/munged.log)"
    fi
    wait_for 10 munge munge -n --socket="$dir/munge/munge.sock" || { tail -5 "$dir/munged.log" >&2; skip "munged does not answer"; }

    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
    ctld_port=$(free_port)
    d_port=$(free_port)
    while [ "$d_port" = "$ctld_port" ]; do d_port=$(free_port); done
    user=$(id -un)
    cat > "$dir/slurm.conf" <<EOF
# Written by scripts/slurm-local.sh: a private single-node cluster (state in $dir).
ClusterName=fslocal$$
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=$user
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
SwitchType=switch/none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
PlugStackConfig=$dir/plugstack.conf
MaxArraySize=1001
MinJobAge=600
KillWait=5
InactiveLimit=0
NodeName=$host NodeAddr=127.0.0.1 NodeHostname=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
    : > "$dir/plugstack.conf"
    export SLURM_CONF="$dir/slurm.conf"
    if ! slurmctld -i -f "$SLURM_CONF" > "$dir/slurmctld.out" 2>&1; then
      tail -5 "$dir/slurmctld.out" "$dir/slurmctld.log" 2>/dev/null >&2
      "$0" stop "$dir" >/dev/null 2>&1 || true
      skip "slurmctld did not start (see $dir/slurmctld.log)"
    fi
    if ! wait_for 20 slurmctld scontrol ping; then
      tail -5 "$dir/slurmctld.log" >&2
      "$0" stop "$dir" >/dev/null 2>&1 || true
      skip "slurmctld does not answer (see $dir/slurmctld.log)"
    fi
    if ! slurmd -f "$SLURM_CONF" > "$dir/slurmd.out" 2>&1; then
      tail -5 "$dir/slurmd.out" "$dir/slurmd.log" 2>/dev/null >&2
      "$0" stop "$dir" >/dev/null 2>&1 || true
      skip "slurmd did not start (see $dir/slurmd.log)"
    fi
    node_idle() { sinfo -h -N -o '%t' | grep -Eq '^(idle|mix|alloc)'; }
    if ! wait_for 30 slurmd node_idle; then
      sinfo -N >&2 || true
      tail -5 "$dir/slurmd.log" >&2
      "$0" stop "$dir" >/dev/null 2>&1 || true
      skip "the node did not come up idle (see $dir/slurmd.log)"
    fi
    echo "slurm-local: up: node $host, $cpus CPUs, controller 127.0.0.1:$ctld_port, state in $dir" >&2
    echo "export SLURM_CONF=$dir/slurm.conf"
    ;;
  *)
    echo "usage: $0 start|stop|env|status DIR" >&2; exit 2 ;;
esac
