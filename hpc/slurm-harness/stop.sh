#!/usr/bin/env bash
# Stop the SLURM started by start.sh: cancel its jobs, then stop exactly the
# recorded daemons (each PID is checked against /proc/PID/cmdline first).
# A munged that start.sh found already running was not recorded and is left alone.
#
#   MATSCREEN_SLURM_DIR   state dir (default /tmp/matscreen-slurm)
set -uo pipefail

BASE=${MATSCREEN_SLURM_DIR:-/tmp/matscreen-slurm}
CONF=$BASE/slurm.conf
PIDS=$BASE/pids
export SLURM_CONF=$CONF
t0=$(date +%s.%N)
log() { printf '[slurm-harness] %s\n' "$*" >&2; }

[ -s "$PIDS" ] || { log "nothing recorded in $PIDS: nothing to stop"; exit 0; }

. "$(dirname "${BASH_SOURCE[0]}")/pids.sh"  # getpid, alive

# Jobs first: job steps run under slurmstepd in their own sessions and would outlive slurmd.
if alive slurmctld; then
  jobs=$(squeue -h -o %i 2>/dev/null | tr '\n' ' ')
  if [ -n "${jobs// /}" ]; then
    log "cancelling jobs: $jobs"
    # shellcheck disable=SC2086
    scancel --quiet $jobs 2>/dev/null || true
    end=$(( $(date +%s) + 30 ))
    while [ "$(date +%s)" -le "$end" ] && [ -n "$(squeue -h -o %i 2>/dev/null)" ]; do sleep 0.2; done
  fi
fi

for name in slurmd slurmctld munged; do
  p=$(getpid "$name")
  [ -n "$p" ] || continue
  if alive "$name"; then
    kill -TERM "$p"
    end=$(( $(date +%s) + 10 ))
    while [ "$(date +%s)" -le "$end" ] && kill -0 "$p" 2>/dev/null; do sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then log "$name ($p) ignored SIGTERM: SIGKILL"; kill -KILL "$p"; fi
    log "stopped $name ($p)"
  else
    log "$name: recorded PID $p is gone or is another program: not signalled"
  fi
  sed -i "/^$name /d" "$PIDS"
done

# Undo the /etc/slurm/slurm.conf symlink if start.sh made it (and it still points at us).
if [ -f "$BASE/created" ] && grep -q '^etc_link ' "$BASE/created"; then
  if [ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$CONF" ]; then rm -f /etc/slurm/slurm.conf; fi
  sed -i '/^etc_link /d' "$BASE/created"
fi
log "stopped in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
