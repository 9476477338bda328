#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make soak: SOAK_RESETS (default 10000) resets by the Rust sample driver
# under DMA load on "ours", checked by the oracle; prints the count, the
# duration and the verdict.

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

n=${SOAK_RESETS:-10000}
case $n in ''|*[!0-9]*) die "SOAK_RESETS=$n is not a number" ;; esac
variant=${VARIANT:-ours}
for s in deps.sh fetch-base.sh prepare.sh; do "$HARNESS_DIR/$s"; done
"$HARNESS_DIR/build.sh" "$variant"
"$HARNESS_DIR/modules.sh" "$variant"
"$HARNESS_DIR/mkinitramfs.sh" "$variant"
# One boot by default; SOAK_PER_BOOT splits the soak into several (each
# boot's count comes from the sample's stats, the oracle checks every one).
per=${SOAK_PER_BOOT:-$n}
case $per in ''|*[!0-9]*|0) die "SOAK_PER_BOOT=$per is not a positive number" ;; esac
msg "soak: $n resets on $variant in boots of up to $per (about $((n / 9 / 60 + 1)) min under TCG)"
t0=$(date +%s)
rc=0
total=0
left=$n
boot=0
run=$OUT_ROOT/runs/$variant-legacy-soak
rm -rf "$run".[0-9]*
while [ "$left" -gt 0 ]; do
	boot=$((boot + 1))
	k=$(( left < per ? left : per ))
	left=$((left - k))
	VM_TIMEOUT=$((k / 5 + 600)) VM_APPEND="iommu_reset.nr=$k iommu_reset.wait_s=$((k / 5 + 300))" \
		"$HARNESS_DIR/run-vm.sh" "$variant" soak legacy || rc=1
	oracle_run "$variant" legacy "$run" || rc=1
	grep -E '^(# )*(ok|not ok) |# sample-stats' "$run/tests.log" || true
	grep -E '^(PASS|FAIL)' "$run/oracle.txt" || true
	got=$(sed -n 's/.*# sample-stats .*resets=\([0-9]*\) .*/\1/p' "$run/tests.log" | head -n1)
	total=$((total + ${got:-0}))
	msg "soak: boot $boot: ${got:-0} of $k resets, $total of $n so far ($(( $(date +%s) - t0 ))s)"
	[ "${KEEP_TRACES:-0}" = 1 ] || rm -f "$run/trace.log"
	mv "$run" "$run.$boot"
done
[ "$total" = "$n" ] || rc=1
msg "soak: $total resets under load in $boot boot(s), $(( $(date +%s) - t0 ))s, verdict $([ $rc = 0 ] && echo PASS || echo FAIL)"
exit $rc
