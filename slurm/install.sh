#!/usr/bin/env bash
# Install a real Slurm for one machine (Debian 12 packages): controller, two virtual compute nodes,
# munge authentication, and MariaDB + slurmdbd so that `sacct` works (submitit needs it to see the
# state of finished or killed jobs). Needs root. Nothing is started: see slurm/up.sh.
set -euo pipefail
if command -v slurmctld >/dev/null && command -v slurmdbd >/dev/null && command -v mariadbd >/dev/null \
  && command -v munged >/dev/null; then
  echo "slurm: packages already installed"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq slurm-wlm slurmdbd munge mariadb-server >/dev/null
echo "slurm: installed $(slurmctld -V)"
