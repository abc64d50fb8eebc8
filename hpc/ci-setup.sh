#!/usr/bin/env bash
# CI: install and start a single-node SLURM for the `slurm`-marked tests.
# Runs as root on a fresh Debian bookworm machine (no systemd needed).
#
#   bash hpc/ci-setup.sh
#   MATSCREEN_REQUIRE_SLURM=1 pytest -m slurm tests/hpc     # missing SLURM fails, never skips
#   bash hpc/slurm-harness/stop.sh                          # optional
#
# start.sh symlinks /etc/slurm/slurm.conf to its own config when that file does not
# exist (a fresh machine), so sbatch/squeue work without SLURM_CONF. Environment:
# MATSCREEN_SLURM_DIR (state dir, default /tmp/matscreen-slurm) and the other
# MATSCREEN_SLURM_* variables of hpc/slurm-harness/start.sh.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BASE=${MATSCREEN_SLURM_DIR:-/tmp/matscreen-slurm}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }

[ "$(id -u)" = 0 ] || { echo "ci-setup.sh: run as root" >&2; exit 1; }
t0=$(now)
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
echo "[ci-setup] apt-get update: $(since "$t0") s"

t1=$(now)
bash "$HERE/slurm-harness/start.sh"
echo "[ci-setup] install + start: $(since "$t1") s"

# Smoke test: one real batch job through the whole chain (munge, slurmctld, slurmd).
export SLURM_CONF=$BASE/slurm.conf
t2=$(now)
jid=$(sbatch --parsable -p debug -n 1 -c 1 --mem=100M -t 2 -o "$BASE/log/smoke-%j.out" --wrap 'echo smoke-ok')
end=$(( $(date +%s) + 120 ))
while [ -n "$(squeue -h -j "$jid" 2>/dev/null)" ]; do
  [ "$(date +%s)" -le "$end" ] || { echo "[ci-setup] smoke job $jid did not finish" >&2; exit 1; }
  sleep 0.2
done
grep -qs smoke-ok "$BASE/log/smoke-$jid.out" || { echo "[ci-setup] smoke job $jid produced no output" >&2; exit 1; }
echo "[ci-setup] smoke job: $(since "$t2") s"

# Let later CI steps find the config even if /etc/slurm/slurm.conf belongs to someone else.
if [ -n "${GITHUB_ENV:-}" ]; then echo "SLURM_CONF=$SLURM_CONF" >> "$GITHUB_ENV"; fi
sinfo
echo "[ci-setup] SLURM ready in $(since "$t0") s; export SLURM_CONF=$SLURM_CONF"
