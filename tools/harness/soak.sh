#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make soak: SOAK_RESETS (default 10000) resets by the Rust sample driver
# under DMA load on "ours", checked by the oracle; prints the count, the
# duration and the verdict.

set -euo pipefail
. "$(dirname "$0")/lib.sh"

n=${SOAK_RESETS:-10000}
case $n in ''|*[!0-9]*) die "SOAK_RESETS=$n is not a number" ;; esac
variant=${VARIANT:-ours}
for s in deps.sh fetch-base.sh prepare.sh; do "$HARNESS_DIR/$s"; done
"$HARNESS_DIR/build.sh" "$variant"
"$HARNESS_DIR/modules.sh" "$variant"
"$HARNESS_DIR/mkinitramfs.sh" "$variant"
msg "soak: $n resets on $variant (about $((n / 9 / 60 + 1)) min under TCG)"
t0=$(date +%s)
rc=0
VM_TIMEOUT=$((n / 5 + 600)) VM_APPEND="iommu_reset.nr=$n iommu_reset.wait_s=$((n / 5 + 300))" \
	"$HARNESS_DIR/run-vm.sh" "$variant" soak legacy || rc=1
run=$OUT_ROOT/runs/$variant-legacy-soak
python3 "$REPO_DIR/tools/oracle/iommu_reset_oracle.py" "$run/trace.log" \
	--console "$run/console.log" --require-ats-off > "$run/oracle.txt" 2>&1 || rc=1
grep -E '^(ok|not ok) |# sample-stats' "$run/console.log" || true
grep -E '^(PASS|FAIL)' "$run/oracle.txt" || true
stats=$(sed -n 's/.*# sample-stats .*resets=\([0-9]*\) .*/\1/p' "$run/console.log" | head -n1)
msg "soak: ${stats:-0} resets in $(( $(date +%s) - t0 ))s, verdict $([ $rc = 0 ] && echo PASS || echo FAIL)"
exit $rc
