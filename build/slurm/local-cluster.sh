#!/usr/bin/env bash
# A real single-node Slurm cluster from Debian's packages, for the tests and CI: start | stop | status.
# Needs root (it installs slurm-wlm and munge when missing and starts the daemons). PID 1 is not systemd on these
# machines, so munged, slurmctld and slurmd are started directly; proctrack/linuxproc and task/none avoid cgroups.
set -euo pipefail

conf=/etc/slurm/slurm.conf
marker="# written by build/slurm/local-cluster.sh"
state=/var/lib/slurm-local
logs=/var/log/slurm-local

up() { timeout 5 sinfo -h -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'; }

install() {
  command -v slurmctld >/dev/null && command -v munged >/dev/null && return
  echo "installing slurm-wlm and munge (Debian packages)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

configure() {
  local host cpus memory
  host=$(hostname -s)
  # The controller and the node find each other by the short hostname.
  getent hosts "$host" >/dev/null || echo "127.0.0.1 $host" >>/etc/hosts
  if [[ -f $conf ]] && ! grep -qF "$marker" "$conf"; then
    echo "$conf exists and was not written by this script; leaving it as it is"
    return
  fi
  cpus=$(nproc)
  memory=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)
  mkdir -p "$state/ctld" "$state/d" "$logs"
  chown slurm: "$state/ctld" "$logs"
  cat >"$conf" <<CONF
$marker
ClusterName=local
SlurmctldHost=$host
SlurmUser=slurm
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MailProg=/bin/true
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$logs/jobcomp.txt
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$logs/slurmctld.log
SlurmdLogFile=$logs/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MinJobAge=3600
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return; fi
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge: /run/munge /var/log/munge /var/lib/munge
  chmod 0755 /run/munge
  if [[ ! -s /etc/munge/munge.key ]]; then
    mungekey --create --keyfile=/etc/munge/munge.key
  fi
  chown munge: /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  runuser -u munge -- /usr/sbin/munged
}

start() {
  if [[ $(id -u) -ne 0 ]]; then
    echo "local-cluster.sh start needs root (it installs packages and starts daemons)" >&2
    exit 1
  fi
  if command -v sinfo >/dev/null && up; then echo "the cluster is already up"; status; return; fi
  install
  configure
  start_munge
  pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld
  pgrep -x slurmd >/dev/null || /usr/sbin/slurmd
  for _ in $(seq 100); do
    if up; then status; return; fi
    sleep 0.2
  done
  # A node left DOWN by an earlier unclean stop comes back with an explicit resume.
  scontrol update nodename="$(hostname -s)" state=resume 2>/dev/null || true
  for _ in $(seq 50); do
    if up; then status; return; fi
    sleep 0.2
  done
  echo "the node did not become idle; see $logs/slurmctld.log and $logs/slurmd.log" >&2
  exit 1
}

stop() {
  # By the daemons' own pid files: only what this script started.
  for pidfile in /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid; do
    if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      kill "$(cat "$pidfile")"
      for _ in $(seq 50); do kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null || break; sleep 0.1; done
    fi
  done
  echo "the cluster is stopped"
}

status() {
  if command -v sinfo >/dev/null && up; then
    sinfo -h -N -o 'node %N: %T, %c CPUs, %m MB, partition %P'
  else
    echo "the cluster is not up"
    return 3
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
