#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Lifetime races of the Rust sample driver rust_dma_reset: "start" written
# to its control file while the function is unbound and rebound, and while
# the module is removed, ROUNDS times each (default 50). Nothing may hang
# (the hung-task detector is armed with a short timeout and the kernel log
# is checked), and no work item may outlive its binding: after each unbind
# the sample's debugfs directory is gone, after each rmmod the module is,
# and no task is left blocked.
#
# Usage: reset_sample_race.sh BDF   (or IOMMU_RESET_BDF=BDF)
# Needs: the rust_dma_reset module and an ATS-capable function with no
# driver bound.

DIR=$(dirname "$0")
# shellcheck source=iommu_reset_lib.sh
. "$DIR/iommu_reset_lib.sh"

ROUNDS=${IOMMU_RESET_RACE_ROUNDS:-50}
DRV=rust_dma_reset
HUNG_S=10

ktap_print_header
bdf=$(reset_norm_bdf "${1:-${IOMMU_RESET_BDF:-}}")
reset_require_function "$bdf" unbound
case $ROUNDS in '' | *[!0-9]*) reset_skip "IOMMU_RESET_RACE_ROUNDS=$ROUNDS is not a number" ;; esac
[ -d /sys/bus/pci/drivers/$DRV ] || reset_load_module $DRV 2>/dev/null ||
	reset_skip "no $DRV module (CONFIG_SAMPLE_RUST_DMA_RESET)"

ktap_set_plan 4

# A hang of more than HUNG_S seconds is reported in the kernel log.
hung_old=$(cat /proc/sys/kernel/hung_task_timeout_secs 2>/dev/null)
if [ -n "$hung_old" ]; then
	echo $HUNG_S > /proc/sys/kernel/hung_task_timeout_secs
	ktap_test_pass "hung-task detector armed (${HUNG_S}s)"
else
	ktap_test_skip "hung-task detector armed (no CONFIG_DETECT_HUNG_TASK)"
fi
log0=$(dmesg | wc -l)

# starter: write "start" to the control file as fast as possible, N times;
# most writes fail (EBUSY while a run is active, ENODEV or ENOENT once the
# driver is unbinding or gone), which is what the race is about.
starter() {
	j=0
	while [ $j -lt "$1" ]; do
		echo "start workers=2 resets=2 interval_ms=0" \
			> "$DEBUGFS/$DRV-$bdf/control" 2>/dev/null
		j=$((j + 1))
	done
}
# Tasks in uninterruptible sleep, other than this test's own.
blocked_tasks() {
	n=0
	for s in /proc/[0-9]*/status; do
		grep -q '^State:.*D (disk sleep)' "$s" 2>/dev/null && n=$((n + 1))
	done
	echo $n
}

# The resets of the races run under the sample's own DMA load: the oracle
# checks them like any other.
oracle_describe "$bdf"
oracle_phase 16
oracle_expect sample-race "$bdf" clean

# race unbind|rmmod: ROUNDS rounds of "start" writes while the binding is
# taken away by an unbind or by removing the module; prints the problems
# seen: a failed (re)bind or rmmod, a control file or module that outlived
# its binding.
race() {
	i=0 bad=0
	while [ $i -lt "$ROUNDS" ]; do
		if [ "$1" = rmmod ] && [ ! -d /sys/bus/pci/drivers/$DRV ]; then
			reset_load_module $DRV 2>/dev/null || bad=$((bad + 1))
		fi
		reset_bind $DRV "$bdf" || bad=$((bad + 1))
		starter 30 &
		w=$!
		# Vary where in the writes the binding goes.
		[ $((i % 3)) = 0 ] || sleep "0.0$((i % 10))"
		if [ "$1" = rmmod ]; then
			rmmod $DRV 2>/dev/null || bad=$((bad + 1))
		else
			reset_unbind "$bdf"
		fi
		wait $w
		echo > "$SYSFS_PCI/$bdf/driver_override"
		# The binding is gone, and with it every file and work item of
		# it; after rmmod, the module too.
		[ -e "$DEBUGFS/$DRV-$bdf" ] && bad=$((bad + 1))
		[ "$1" = rmmod ] && [ -d /sys/module/$DRV ] && bad=$((bad + 1))
		i=$((i + 1))
	done
	echo $bad
}

# 2 and 3: start against unbind and rebind, then against rmmod.
for what in unbind/rebind rmmod; do
	bad=$(race "${what%/*}")
	ktap_print_msg "start vs $what: $ROUNDS rounds, $bad problems," \
		"$(blocked_tasks) blocked tasks"
	if [ "$bad" = 0 ] && [ "$(blocked_tasks)" = 0 ]; then
		ktap_test_pass "start racing $what x$ROUNDS"
	else
		ktap_test_fail "start racing $what x$ROUNDS"
	fi
done

# The function works again after the races: a short run of the sample's
# load, whose unmaps the oracle must see reach it after its last reset
# (clean also means re-attached).
if { [ -d /sys/bus/pci/drivers/$DRV ] || reset_load_module $DRV 2>/dev/null; } &&
	reset_bind $DRV "$bdf"; then
	echo "start workers=2 resets=0" > "$DEBUGFS/$DRV-$bdf/control"
	sleep 0.5
	echo stop > "$DEBUGFS/$DRV-$bdf/control"
	ops=$(sed -n 's/^map_ops //p' "$DEBUGFS/$DRV-$bdf/stats")
	reset_unbind "$bdf"
	ktap_print_msg "load after the races: $ops map/unmap operations"
fi
oracle_phase 17

# 4: nothing ran on after its binding: no hung task, no splat, and the
# function still answers config requests (and, above, DMA for the oracle).
sleep 1
splat=$(dmesg | tail -n +"$((log0 + 1))" |
	grep -cE 'blocked for more than|BUG:|WARNING:|Oops|KASAN' || true)
if [ "$splat" = 0 ] && [ "$(cfg_read "$bdf" 0 2)" != 65535 ]; then
	ktap_test_pass "no hung task or splat after the races"
else
	ktap_test_fail "no hung task or splat after the races ($splat kernel reports)"
fi
[ -n "$hung_old" ] && echo "$hung_old" > /proc/sys/kernel/hung_task_timeout_secs
ktap_finished
