#!/usr/bin/env bash
# Stop the one-machine Slurm that slurm/up.sh started, each daemon by its pid file (then by name).
set -uo pipefail
DIR=${SAERL_SLURM_DIR:-/tmp/saerl-slurm}
squeue -h -o %A 2>/dev/null | xargs -r scancel 2>/dev/null
for pidfile in "$DIR"/slurmd-n1.pid "$DIR"/slurmd-n2.pid "$DIR"/slurmctld.pid "$DIR"/slurmdbd.pid /run/mysqld/mariadb.pid; do
  [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
done
sleep 1
pkill -x slurmd; pkill -x slurmctld; pkill -x slurmdbd; pkill -x mariadbd
echo "slurm: down"
