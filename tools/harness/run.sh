#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make run: build both variants, boot each under QEMU with the demo plan
# (resets under DMA load plus the raw-FLR negative control) and print one
# table: resets, load operations, oracle counts, C (upstream) vs ours.

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

PLAN=${PLAN:-full}
MODE=${MODE:-legacy}
VARIANTS=${VARIANTS:-upstream ours-c ours}
# Bad input fails first, before anything is installed or built.
[ -x "$HARNESS_DIR/guest/plans/$PLAN" ] ||
	die "unknown PLAN=$PLAN: one of $(ls "$HARNESS_DIR/guest/plans" | paste -sd' ')"
case $MODE in
legacy | scalable | pasid | amd) ;;
*) die "unknown MODE=$MODE: one of legacy scalable pasid amd" ;;
esac
for v in $VARIANTS; do
	case $v in
	upstream | ours-c | ours) ;;
	*) die "unknown variant '$v' in VARIANTS=$VARIANTS: one of upstream ours-c ours" ;;
	esac
done
phases_start
vm_jobs > /dev/null

for s in deps.sh fetch-base.sh prepare.sh; do
	phase_begin "${s%.sh}"; "$HARNESS_DIR/$s"; phase_end
done
# upstream: pristine 7.3 (C helpers); ours-c: the patched tree with the C
# helpers; ours: the patched tree with the Rust helpers. ours-c and ours run
# the same Rust sample driver, so their numbers compare C and Rust directly.
for v in $VARIANTS; do
	phase_begin "build $v"; "$HARNESS_DIR/build.sh" $v; phase_end
done
for v in $VARIANTS; do
	"$HARNESS_DIR/modules.sh" $v
	"$HARNESS_DIR/mkinitramfs.sh" $v
done

# boot_variant V: boot V with the plan and run the oracle on its trace; the
# emulators run vm_jobs at a time, and $run.rc says how each one ended.
boot_variant() {
	local v=$1 run rc=0
	run=$OUT_ROOT/runs/$v-$MODE-$PLAN
	rm -f "$run.rc"
	"$HARNESS_DIR/run-vm.sh" "$v" "$PLAN" "$MODE" || rc=1
	oracle_run "$v" "$MODE" "$run" "$v" || rc=1
	echo "$rc" > "$run.rc"
}
# shellcheck disable=SC2086
set -- $VARIANTS
phase_begin "vm boots ($# variants, $(vm_jobs) at a time)"
pool_run "$(vm_jobs)" boot_variant "$@"
phase_end
rc=0
for v in $VARIANTS; do
	[ "$(cat "$OUT_ROOT/runs/$v-$MODE-$PLAN.rc" 2>/dev/null)" = 0 ] || rc=1
done

echo
phases_print
echo
python3 "$HARNESS_DIR/results.py" "$OUT_ROOT/runs" "$PLAN" "$MODE" \
	--variants="$(echo $VARIANTS | tr ' ' ,)" || rc=1
exit $rc
