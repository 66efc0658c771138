#!/usr/bin/env bash
# Stop the one-machine Slurm that slurm/up.sh started: this cluster's jobs (by their ids, from its own
# controller), then exactly the daemons up.sh started, each by the pid file it listed in
# $DIR/started.list (slurmd, slurmctld, slurmdbd, MariaDB, munged), checking that the pid still
# belongs to that program. Nothing is killed by name: another Slurm, MariaDB or munged on the
# machine is left alone.
set -uo pipefail
DIR=${SAERL_SLURM_DIR:-/tmp/saerl-slurm}
LIST="$DIR/started.list"
if [ ! -s "$LIST" ]; then
  echo "slurm: nothing to stop (no $LIST: slurm/up.sh started nothing here)"
  exit 0
fi
alive() {  # name pidfile -> the pid, if it runs that program
  local pid
  pid=$(cat "$2" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] && echo "$pid"
}
gone() { [ ! -e "/proc/$1" ] || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }  # exited (or a zombie)
if alive slurmctld "$DIR/slurmctld.pid" >/dev/null; then
  jobs=$(squeue -h -o %A 2>/dev/null | sort -u)
  [ -n "$jobs" ] && echo "slurm: cancelling job(s) $(echo $jobs)" && scancel $jobs 2>/dev/null
fi
# Compute nodes first, the controller, accounting, then the database and munge they use.
for name in slurmd slurmctld slurmdbd mariadbd munged; do
  grep "^$name " "$LIST" | while read -r _ pidfile; do
    if pid=$(alive "$name" "$pidfile"); then
      kill "$pid"
      for _ in $(seq 40); do gone "$pid" && break; sleep 0.25; done
      gone "$pid" || kill -9 "$pid"
      echo "slurm: stopped $name ($pid)"
    fi
  done
done
rm -f "$LIST"
echo "slurm: down"
