#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench: boot ours-c (C helpers) and ours (Rust helpers), the same tree
# and the same Rust sample driver, built without the KASAN of make check's
# kernels (variants ours-c-bench and ours-bench), on the same QEMU topology
# (with groups of 1, 2, 4 and 8 functions), interleaved: BENCH_BOOTS (default 3) boots of
# each, ours-c, ours, ours-c, ours, ... Each boot runs the bench plan; the
# tables give the median of the per-boot medians with the spread (lowest
# and highest per-boot median), ratios Rust/C, and the targets met or not.
# Results also go to $OUT_ROOT/bench.json.
#
# BENCH_CLOCK=icount (the default): the guests' clock counts the
# instructions they execute (QEMU -icount, 2^BENCH_ICOUNT_SHIFT ns each,
# default 2), so the tables give amounts of guest work, the same from boot
# to boot and free of the host's speed, of the emulator's translation and
# of its device models (a VT-d register write costs one instruction).
# BENCH_CLOCK=real boots with the host's clock instead: TCG timings, which
# only mean something as ratios from one run.
#
# BENCH_ROUNDS (default 2000) rounds of prepare()+done() per group size,
# BENCH_RESETS (default 300) sample FLRs in the storm.

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

phases_start
boots=${BENCH_BOOTS:-3} rounds=${BENCH_ROUNDS:-2000} resets=${BENCH_RESETS:-300}
clock=${BENCH_CLOCK:-icount} shift=${BENCH_ICOUNT_SHIFT:-2}
case $clock in
icount)
	case $shift in
	[0-9]) ;;
	*) die "BENCH_ICOUNT_SHIFT=$shift is not a shift of 0 to 9" ;;
	esac
	icount="shift=$shift,align=off,sleep=on" ;;
real) icount='' shift='' ;;
*) die "BENCH_CLOCK=$clock: icount (instructions) or real (the host's clock)" ;;
esac
for v in boots rounds resets; do
	case ${!v} in
	''|*[!0-9]*|0*) die "BENCH_${v^^}=${!v} is not a positive number" ;;
	esac
done
[ "$rounds" -le 100000 ] || die "BENCH_ROUNDS=$rounds: at most 100000"
for s in deps.sh fetch-base.sh prepare.sh; do "$HARNESS_DIR/$s"; done
for v in ours-c-bench ours-bench; do
	phase_begin "build $v"; "$HARNESS_DIR/build.sh" $v; phase_end
	"$HARNESS_DIR/modules.sh" $v
	"$HARNESS_DIR/mkinitramfs.sh" $v
done
res=$OUT_ROOT/bench
rm -rf "$res"
mkdir -p "$res"
for b in $(seq "$boots"); do
	for v in ours-c ours; do
		phase_begin "bench $v #$b"
		QEMU_ICOUNT=$icount VM_GROUPS=1 VM_TIMEOUT=$((resets / 3 + rounds / 20 + 900)) \
			VM_APPEND="bench_resets=$resets bench_rounds=$rounds" \
			"$HARNESS_DIR/run-vm.sh" "$v-bench" bench legacy || true
		cp "$OUT_ROOT/runs/$v-bench-legacy-bench/tests.log" "$res/$v-$b.log" 2>/dev/null ||
			: > "$res/$v-$b.log"
		phase_end
	done
done
echo
phases_print
echo
python3 "$HARNESS_DIR/bench_report.py" "$res" "$boots" "$OUT_ROOT/bench.json" $shift
