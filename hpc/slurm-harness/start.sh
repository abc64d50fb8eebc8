#!/usr/bin/env bash
# Start a single-node SLURM (munged + slurmctld + slurmd) for tests and CI. Run as root.
#
# Idempotent: a second run while everything is healthy changes nothing; daemons
# that died are restarted. No systemd needed.
#
#   MATSCREEN_SLURM_DIR        state dir (default /tmp/matscreen-slurm): slurm.conf,
#                              spool, logs, the PID file `pids`, and `env`
#   MATSCREEN_SLURM_CTLD_PORT  slurmctld port (default 6817)
#   MATSCREEN_SLURMD_PORT      slurmd port (default 6818)
#   MATSCREEN_SLURM_LINK_ETC   1 (default): if /etc/slurm/slurm.conf does not exist,
#                              symlink it to ours so plain `sbatch` works; 0: never touch /etc/slurm
#   MATSCREEN_SLURM_NO_INSTALL 1: fail instead of apt-installing missing packages
#
# The slurm.conf lives in the state dir; clients find it through SLURM_CONF:
#   source "$MATSCREEN_SLURM_DIR/env"      # exports SLURM_CONF
# Only daemons this script started are recorded in `pids` (a munged that was
# already running and working is used, not recorded, and never stopped by stop.sh).
set -euo pipefail

BASE=${MATSCREEN_SLURM_DIR:-/tmp/matscreen-slurm}
CTLD_PORT=${MATSCREEN_SLURM_CTLD_PORT:-6817}
SLURMD_PORT=${MATSCREEN_SLURMD_PORT:-6818}
LINK_ETC=${MATSCREEN_SLURM_LINK_ETC:-1}
CONF=$BASE/slurm.conf
PIDS=$BASE/pids
NODE=$(hostname -s)
t0=$(date +%s.%N)

log() { printf '[slurm-harness] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (the daemons run as root / munge)"

# --- 1. packages -----------------------------------------------------------------
need_install=0
for prog in slurmctld slurmd sbatch munged mungekey; do
  command -v "$prog" >/dev/null 2>&1 || need_install=1
done
if [ "$need_install" = 1 ]; then
  [ "${MATSCREEN_SLURM_NO_INSTALL:-0}" = 1 ] && die "SLURM/munge not installed and MATSCREEN_SLURM_NO_INSTALL=1"
  command -v apt-get >/dev/null || die "slurm-wlm/munge missing and no apt-get: install them by hand"
  # Without systemd the packages' postinst would try to start the daemons via
  # /etc/init.d; a policy-rc.d that exits 101 forbids that. Only remove it if we made it.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
    trap '[ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d || true' EXIT
  fi
  log "installing slurm-wlm munge (apt)"
  ti=$(date +%s.%N)
  export DEBIAN_FRONTEND=noninteractive
  # Refresh lists only when they are missing (ci-setup.sh runs apt-get update itself).
  if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ]; then
    apt-get update -qq
  fi
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null; }
  if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; made_policy=0; fi
  log "install took $(awk -v a="$ti" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
fi

# --- 2. munge key and runtime dirs -------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --keyfile=/etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge

# --- 3. slurm.conf (rewritten only when its content changes) -----------------------
mkdir -p "$BASE"/state/ctld "$BASE"/state/d "$BASE"/log
touch "$PIDS"
mem_mb=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.8}' /proc/meminfo)
# nproc honours OMP_NUM_THREADS (dask sets it to 1 in its processes): ignore it, keep the affinity mask
cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
cat > "$CONF.new" <<EOF
# Written by matscreen hpc/slurm-harness/start.sh: one node, one partition 'debug'.
ClusterName=matscreen
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
KillWait=5
StateSaveLocation=$BASE/state/ctld
SlurmdSpoolDir=$BASE/state/d
SlurmctldPidFile=$BASE/slurmctld.pid
SlurmdPidFile=$BASE/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
if cmp -s "$CONF.new" "$CONF"; then rm -f "$CONF.new"; else mv "$CONF.new" "$CONF"; fi
export SLURM_CONF=$CONF
printf 'export SLURM_CONF=%s\n' "$CONF" > "$BASE/env"

if [ "$LINK_ETC" = 1 ]; then
  if [ ! -e /etc/slurm/slurm.conf ] && [ ! -L /etc/slurm/slurm.conf ]; then
    mkdir -p /etc/slurm
    ln -s "$CONF" /etc/slurm/slurm.conf
    echo "etc_link /etc/slurm/slurm.conf" >> "$BASE/created"
  elif [ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" != "$CONF" ]; then
    log "/etc/slurm/slurm.conf is someone else's: left alone; clients need: source $BASE/env"
  fi
fi

# --- helpers -------------------------------------------------------------------------
. "$(dirname "${BASH_SOURCE[0]}")/pids.sh"  # getpid, alive
record() { sed -i "/^$1 /d" "$PIDS"; echo "$1 $2" >> "$PIDS"; }
# waitfor 'CMD' SECONDS: poll CMD every 0.2 s until it succeeds
waitfor() {
  local end
  end=$(( $(date +%s) + $2 ))
  while [ "$(date +%s)" -le "$end" ]; do
    eval "$1" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}
munge_ok() { { munge -n </dev/null | unmunge; } >/dev/null 2>&1; }

# --- 4. daemons (foreground mode in their own session, so $! is the daemon) ---------
if ! alive munged; then
  if munge_ok; then
    log "using the munged that is already running (not ours: stop.sh leaves it alone)"
    sed -i '/^munged /d' "$PIDS"
  else
    rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock /run/munge/munged.pid
    setsid setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F \
      >"$BASE/log/munged.out" 2>&1 </dev/null &
    record munged $!
  fi
fi
waitfor munge_ok 20 || { cat "$BASE/log/munged.out" >&2 || true; die "munge does not work"; }

if ! alive slurmctld; then
  setsid /usr/sbin/slurmctld -D -f "$CONF" >"$BASE/log/slurmctld.out" 2>&1 </dev/null &
  record slurmctld $!
fi
waitfor 'scontrol ping | grep -q "is UP"' 40 \
  || { tail -n 30 "$BASE/log/slurmctld.out" "$BASE/log/slurmctld.log" >&2 || true; die "slurmctld not up (port $CTLD_PORT in use?)"; }

if ! alive slurmd; then
  setsid /usr/sbin/slurmd -D -f "$CONF" >"$BASE/log/slurmd.out" 2>&1 </dev/null &
  record slurmd $!
fi

# --- 5. wait until the node can take jobs ----------------------------------------------
end=$(( $(date +%s) + 60 ))
st=""
while [ "$(date +%s)" -le "$end" ]; do
  st=$(sinfo -h -n "$NODE" -o %t 2>/dev/null || true)
  case "$st" in
    idle|mix|alloc) break ;;
    down*|drain*|drng*) scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true ;;
  esac
  sleep 0.2
done
case "$st" in
  idle|mix|alloc) ;;
  *) tail -n 30 "$BASE/log/slurmd.out" "$BASE/log/slurmd.log" >&2 || true; die "node $NODE is '$st', not idle" ;;
esac

log "SLURM up on $NODE ($cpus CPUs, ${mem_mb} MB) in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s; conf $CONF; pids: $(tr '\n' ' ' < "$PIDS")"
log "clients: export SLURM_CONF=$CONF   (or: source $BASE/env)"
