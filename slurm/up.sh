#!/usr/bin/env bash
# Start a two-node Slurm on this machine (no systemd needed): munge, MariaDB, slurmdbd, slurmctld and
# two slurmd daemons (nodes n1 and n2 on 127.0.0.1, ports 17001-17002), then wait until both nodes
# are idle. State and logs live in $SAERL_SLURM_DIR (default /tmp/saerl-slurm); each daemon this
# script starts is listed with its pid file in $DIR/started.list, and slurm/down.sh stops exactly
# those (a munged or MariaDB that was running before is used, not listed, and left alone). Writes /etc/slurm/slurm.conf (clients read it there) and adds n1/n2
# to /etc/hosts. Idempotent: a running cluster is left as it is. With SAERL_SLURM_RESET=1 (CI sets it)
# a running cluster is taken over: every job left from an earlier run is cancelled and down or drained
# nodes are resumed, so the nodes come back idle. Needs root.
set -euo pipefail
DIR=${SAERL_SLURM_DIR:-/tmp/saerl-slurm}
HERE=$(cd "$(dirname "$0")" && pwd)
CPUS=${SAERL_SLURM_CPUS:-$(nproc)}
MEM_MB=${SAERL_SLURM_MEM_MB:-8000}

if [ "$(sinfo -h -N -o %T 2>/dev/null | grep -c '^idle$')" -eq 2 ]; then
  echo "slurm: already up ($(sinfo -h -o '%D nodes %T' | tr '\n' ' '))"
  exit 0
fi
mkdir -p "$DIR"/{log,ctld,spool-n1,spool-n2,mysql} /etc/slurm /run/munge
grep -qE '\sn1(\s|$)' /etc/hosts || echo "127.0.0.1 n1 n2" >> /etc/hosts
started() {  # name pidfile: a daemon this script started, for slurm/down.sh
  grep -qx "$1 $2" "$DIR/started.list" 2>/dev/null || echo "$1 $2" >> "$DIR/started.list"
}

# munge: one key, shared by every daemon and client on this host.
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 400 /etc/munge/munge.key
if ! pgrep -x munged >/dev/null; then
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
  started munged /run/munge/munged.pid
fi

# MariaDB for slurmdbd (accounting, hence sacct).
if ! pgrep -x mariadbd >/dev/null; then
  if [ ! -d "$DIR/mysql/mysql" ]; then
    chown mysql:mysql "$DIR/mysql"
    mariadb-install-db --user=mysql --datadir="$DIR/mysql" >"$DIR/log/mariadb-install.log" 2>&1
  fi
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  (setsid mariadbd --user=mysql --datadir="$DIR/mysql" --socket=/run/mysqld/mysqld.sock \
    --pid-file=/run/mysqld/mariadb.pid --skip-networking=0 --bind-address=127.0.0.1 \
    >"$DIR/log/mariadb.log" 2>&1 &)
  started mariadbd /run/mysqld/mariadb.pid
  for _ in $(seq 60); do mariadb -e 'select 1' >/dev/null 2>&1 && break; sleep 0.5; done
fi
mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
  GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"

sed -e "s#@DIR@#$DIR#g" -e "s#@CPUS@#$CPUS#g" -e "s#@MEM_MB@#$MEM_MB#g" "$HERE/slurm.conf.in" > /etc/slurm/slurm.conf
sed -e "s#@DIR@#$DIR#g" "$HERE/slurmdbd.conf.in" > /etc/slurm/slurmdbd.conf
chmod 600 /etc/slurm/slurmdbd.conf

pgrep -x slurmdbd >/dev/null || { /usr/sbin/slurmdbd && started slurmdbd "$DIR/slurmdbd.pid"; }
for _ in $(seq 60); do sacctmgr -n show cluster >/dev/null 2>&1 && break; sleep 0.5; done
sacctmgr -n show cluster format=cluster | grep -q saerl || sacctmgr -i add cluster saerl >/dev/null
pgrep -x slurmctld >/dev/null || { /usr/sbin/slurmctld && started slurmctld "$DIR/slurmctld.pid"; }
for node in n1 n2; do
  pgrep -f "slurmd -N $node" >/dev/null || { /usr/sbin/slurmd -N "$node" && started slurmd "$DIR/slurmd-$node.pid"; }
done
if [ "${SAERL_SLURM_RESET:-0}" = 1 ]; then
  for _ in $(seq 20); do sinfo -h >/dev/null 2>&1 && break; sleep 0.5; done
  left=$(squeue -h -o %i 2>/dev/null | wc -l)
  [ "$left" -gt 0 ] && echo "slurm: cancelling $left job(s) left from an earlier run"
  squeue -h -o %A 2>/dev/null | xargs -r scancel 2>/dev/null || true
  scontrol update nodename=n1,n2 state=resume 2>/dev/null || true
fi
for _ in $(seq 120); do
  [ "$(sinfo -h -N -o %T 2>/dev/null | grep -c '^idle$')" -eq 2 ] && break
  sleep 0.5
done
sinfo -N -o '%N %T %c %m' || true
if [ "$(sinfo -h -N -o %T | grep -c '^idle$')" -ne 2 ]; then
  echo "slurm: nodes did not come up idle; logs in $DIR/log; jobs holding them:" >&2
  squeue -o '%i %u %T %j %N' >&2 || true
  echo "slurm: SAERL_SLURM_RESET=1 bash slurm/up.sh cancels them" >&2
  exit 1
fi
echo "slurm: up (state and logs in $DIR)"
