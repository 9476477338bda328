#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Power transitions of a function of a two-function IOMMU group while its
# group mate runs a DMA map/unmap load: a function outside D0 cannot answer
# ATS invalidations (in D3hot it may initiate nothing but PME), so none may
# reach it while it is out of D0, and the group must keep accepting
# attachments meanwhile (no -EBUSY), applied when the function is back.
#
# FN0 is bound to test_iommu_reset_pm (runtime PM and system sleep
# callbacks) through driver_override; FN1 gets the test_iommu_reset_load
# load, whose unmaps make the IOMMU invalidate the device-IOTLB of every ATS
# function of the shared domain, FN0 included.
#
#  1. runtime PM: FN0 runtime-suspends to D3hot and resumes, NR_RPM times:
#     the oracle must see no device-IOTLB invalidation inside the D3hot
#     windows, the IOMMU core must show FN0 blocked while it sleeps, and
#     ATS Enable must be set again after every return to D0 (7.3: gap);
#  2. negative control: the same with pci_dev_suspend_iommu() failed by
#     fail_function, so that FN0 sleeps unblocked: the oracle must see
#     invalidations in the windows, and the flush of a domain change (DMA
#     ownership claimed while FN0 sleeps) in one (case 4 ends with the
#     same for system sleep);
#  3. an attachment while FN0 sleeps (DMA ownership of the group claimed,
#     as VFIO does) succeeds at once, FN0 stays blocked until it is back in
#     D0, and once the ownership is released FN0 is attached to the group's
#     domain again: the load's invalidations reach it. The oracle must see
#     no flush of FN0's whole device-IOTLB (what a domain change sends) in
#     its D3hot window (7.3: attached to the sleeping function at once, and
#     flushed there: gap);
#  4. system sleep stopped at the platform stage (pm_test=platform), in
#     suspend-to-idle and, where the machine offers it, suspend-to-RAM,
#     NR_SLEEP cycles each: pci_pm_suspend_noirq() puts FN0 in D3hot; no
#     invalidation may reach it there (7.3: gap);
#  5. an FLR of FN0 under the load afterwards is clean;
#  6. with the load stopped and FN0 unbound, the bridge above FN0 and FN1
#     leaves D0 (the test module's bridge_d3): the IOMMU is blocked and
#     unblocked once for each function below it, and when blocking the
#     last of them fails (fail_function), the ones before it are unblocked
#     again and it is not. QEMU's root ports have no PM capability, so
#     there the transition fails with -EIO after the hooks ran, the path a
#     refused transition takes on hardware too; on a bridge that has one
#     it really is in D3hot for a moment (7.3: gap);
#  7. the same bridge leaves D0 through pci_set_power_state_locked() with
#     pci_bus_sem held (bridge_d3_locked), as vmd and qcom do: each function
#     below it is blocked and unblocked once, and lockdep, which would
#     report a pci_bus_sem taken again by the walk below the bridge, stays
#     silent and on (7.3: gap).
#
# Usage: reset_power.sh FN0 FN1   (two unbound ATS functions of one group;
#        or IOMMU_RESET_BDF / IOMMU_RESET_SIBLING_BDF)
# With IOMMU_RESET_BASELINE=1 (a 7.3 kernel) the gaps are XFAIL, not FAIL.

DIR=$(dirname "$0")
# shellcheck source=iommu_reset_lib.sh
. "$DIR/iommu_reset_lib.sh"

NR_RPM=${IOMMU_RESET_NR_RPM:-20}
NR_RPM_NEG=${IOMMU_RESET_NR_RPM_NEG:-5}
NR_SLEEP=${IOMMU_RESET_NR_SLEEP:-5}
NR_SLEEP_NEG=${IOMMU_RESET_NR_SLEEP_NEG:-2}
# How long FN0 stays in D3hot per cycle (seconds)
HOLD=${IOMMU_RESET_PM_HOLD:-0.3}
FAILFN=$DEBUGFS/fail_function

ktap_print_header
fn0=$(reset_norm_bdf "${1:-${IOMMU_RESET_BDF:-}}")
fn1=$(reset_norm_bdf "${2:-${IOMMU_RESET_SIBLING_BDF:-}}")
reset_require_group_pair "$fn0" "$fn1"
[ -e "$SYSFS_PCI/$fn0/power/runtime_status" ] || reset_skip "no runtime PM (CONFIG_PM)"
reset_load_module test_iommu_reset_pm 2>/dev/null || reset_skip "cannot load test_iommu_reset_pm"
reset_load_module test_iommu_reset_ctl 2>/dev/null || reset_skip "cannot load test_iommu_reset_ctl"
reset_bind test_iommu_reset_pm "$fn0" || reset_skip "cannot bind test_iommu_reset_pm to $fn0"
reset_start_load "$fn1"

ktap_set_plan 10
oracle_describe "$fn0"
blocked_attr=$SYSFS_PCI/$fn0/iommu_group/blocked
ctrl=$SYSFS_PCI/$fn0/power/control

# fail_arm: make every pci_dev_suspend_iommu() fail (fail_function), so that
# FN0 leaves D0 unblocked; false where it cannot be injected.
fail_arm() {
	[ -w "$FAILFN/inject" ] && echo pci_dev_suspend_iommu > "$FAILFN/inject" 2>/dev/null ||
		return 1
	echo 100 > "$FAILFN/probability"
	echo -1 > "$FAILFN/times"
	echo 0 > "$FAILFN/verbose" 2>/dev/null
	return 0
}

fail_disarm() { echo "!pci_dev_suspend_iommu" > "$FAILFN/inject"; }

# pm_wait BDF STATUS: wait up to 3 s for the runtime PM status.
pm_wait() {
	n=0
	while [ "$(cat "$SYSFS_PCI/$1/power/runtime_status")" != "$2" ]; do
		[ $n -ge 300 ] && return 1
		sleep 0.01
		n=$((n + 1))
	done
}

# rpm_cycles N: N runtime suspend/resume cycles of FN0. Sets suspended (the
# cycles that reached "suspended"), blocked (those in which the IOMMU core
# showed FN0 blocked), ats_on (the returns with ATS Enable set) and unblocked
# (the returns after which FN0 was not blocked).
rpm_cycles() {
	suspended=0 blocked=0 ats_on=0 unblocked=0
	i=0
	while [ $i -lt "$1" ]; do
		echo auto > "$ctrl"
		if pm_wait "$fn0" suspended; then
			suspended=$((suspended + 1))
			sleep "$HOLD"
			[ "$(reset_ctl_blocked "$fn0")" = 1 ] && blocked=$((blocked + 1))
		fi
		echo on > "$ctrl"
		pm_wait "$fn0" active
		reset_ats_enabled "$fn0" && ats_on=$((ats_on + 1))
		[ "$(reset_ctl_blocked "$fn0")" = 0 ] && unblocked=$((unblocked + 1))
		i=$((i + 1))
	done
}

# 1: runtime PM under the group mate's load.
oracle_phase 30
oracle_expect runtime-pm "$fn0" clean gap=power-unfenced
ops0=$(ops)
rpm_cycles "$NR_RPM"
ktap_print_msg "runtime PM x$NR_RPM: suspended $suspended, blocked while suspended $blocked," \
	"ATS on after $ats_on, unblocked after $unblocked, load ops $(($(ops) - ops0))"
if [ $suspended != "$NR_RPM" ] || [ $ats_on != "$NR_RPM" ] || [ $unblocked != "$NR_RPM" ] ||
   [ $(($(ops) - ops0)) -eq 0 ]; then
	ktap_test_fail "runtime PM x$NR_RPM of $fn0 under load: suspended $suspended," \
		"ATS on after $ats_on, unblocked after $unblocked"
else
	ok=0
	[ $blocked = "$NR_RPM" ] && ok=1
	reset_gap_result runtime-pm-blocked "$fn0" power-unfenced $ok \
		"blocked in $blocked of $NR_RPM runtime suspends; ATS on after every resume"
fi

# 2: negative control: pci_dev_suspend_iommu() failed, FN0 sleeps unblocked.
if fail_arm; then
	oracle_phase 31
	oracle_expect runtime-pm-unblocked "$fn0" violation
	rpm_cycles "$NR_RPM_NEG"
	fail_disarm
	ktap_print_msg "runtime PM x$NR_RPM_NEG with pci_dev_suspend_iommu() failed:" \
		"suspended $suspended, blocked $blocked"
	# The domain change of a claim of the group reaches the sleeping FN0.
	oracle_phase 39
	oracle_expect attach-unblocked "$fn0" attach-reaches
	fail_arm
	echo auto > "$ctrl"
	pm_wait "$fn0" suspended && asleep=1 || asleep=0
	reset_ctl own "$fn1" && own=ok || own=failed
	echo on > "$ctrl"
	pm_wait "$fn0" active
	reset_ctl disown "$fn1" && disown=ok || disown=failed
	fail_disarm
	ktap_print_msg "claim of the group while $fn0 sleeps unblocked: asleep $asleep," \
		"claim $own, release $disown"
	if [ $suspended = "$NR_RPM_NEG" ] && [ $blocked = 0 ] && [ $asleep = 1 ] &&
	   [ $own = ok ] && [ $disown = ok ]; then
		ktap_test_pass "negative control: $fn0 sleeps unblocked when the helper fails"
	else
		ktap_test_fail "negative control: suspended $suspended," \
			"blocked $blocked of $NR_RPM_NEG, claim while asleep: $asleep $own $disown"
	fi
elif [ "${IOMMU_RESET_BASELINE:-0}" = 1 ]; then
	ktap_test_skip "negative control: no pci_dev_suspend_iommu() here (7.3: case 1 shows it)"
else
	ktap_test_fail "negative control: cannot fail pci_dev_suspend_iommu()" \
		"(CONFIG_FAIL_FUNCTION?)"
fi

# 3: DMA ownership of the group claimed while FN0 sleeps: at once, applied
# when FN0 is back in D0.
oracle_phase 32
oracle_expect attach-while-asleep "$fn0" no-attach gap=power-unfenced
echo auto > "$ctrl"
if pm_wait "$fn0" suspended; then
	reset_ctl own "$fn1" && own=ok || own=failed
	shown=$(cat "$blocked_attr" 2>/dev/null)
	echo on > "$ctrl"
	pm_wait "$fn0" active
	shown_back=$(cat "$blocked_attr" 2>/dev/null)
	reset_ctl disown "$fn1" && disown=ok || disown=failed
	after=$(reset_ctl_blocked "$fn0")
	oracle_phase 33
	oracle_expect attached-after-resume "$fn0" attached
	ops0=$(ops)
	sleep 0.5
	ok=0
	if [ $own = ok ] && [ $disown = ok ] && [ "$after" = 0 ] &&
	   echo "$shown" | grep -qx "$fn0 low-power" &&
	   ! echo "$shown_back" | grep -q "^$fn0 "; then
		ok=1
	fi
	detail="claim of the group while $fn0 sleeps: $own, shown blocked: '$shown';"
	detail="$detail back in D0: '$shown_back', release: $disown, blocked after: $after,"
	detail="$detail load ops $(($(ops) - ops0))"
	if [ ! -e "$blocked_attr" ] && [ "${IOMMU_RESET_BASELINE:-0}" = 1 ]; then
		# The attach to the sleeping function itself is the oracle's
		# attach-while-asleep row.
		reset_gap_na attach-deferred "$fn0" power-unfenced \
			"no iommu_group/blocked to show a deferred attach; $detail"
	else
		reset_gap_result attach-deferred "$fn0" power-unfenced $ok "$detail"
	fi
else
	echo on > "$ctrl"
	ktap_test_fail "attach while $fn0 sleeps: it did not runtime-suspend"
fi

# 4: system sleep, stopped at the platform stage.
# sleep_cycles STATE N: N system sleep cycles to STATE.
sleep_cycles() {
	entered=0 ats_on=0
	n0=$(sed -n "s/^$fn0 .* suspend=\([0-9]*\).*/\1/p" "$DEBUGFS/test_iommu_reset_pm/stats")
	i=0
	while [ $i -lt "$2" ]; do
		echo "$1" > /sys/power/state 2>/dev/null && entered=$((entered + 1))
		reset_ats_enabled "$fn0" && ats_on=$((ats_on + 1))
		i=$((i + 1))
	done
	n1=$(sed -n "s/^$fn0 .* suspend=\([0-9]*\).*/\1/p" "$DEBUGFS/test_iommu_reset_pm/stats")
	callbacks=$((n1 - n0))
}

if [ -w /sys/power/pm_test ] && echo platform > /sys/power/pm_test 2>/dev/null; then
	old_delay=$(cat /sys/module/suspend/parameters/pm_test_delay 2>/dev/null)
	echo 1 > /sys/module/suspend/parameters/pm_test_delay 2>/dev/null
	phase=34
	for st in freeze mem; do
		name=system-sleep-$st
		if ! grep -qw $st /sys/power/state; then
			ktap_test_skip "$name: the machine does not offer '$st'"
			continue
		fi
		oracle_phase $phase
		oracle_expect $name "$fn0" clean gap=power-unfenced
		ops0=$(ops)
		sleep_cycles $st "$NR_SLEEP"
		ktap_print_msg "$name x$NR_SLEEP (pm_test=platform): entered $entered," \
			"suspend callbacks $callbacks, ATS on after $ats_on," \
			"load ops $(($(ops) - ops0))"
		if [ $entered = "$NR_SLEEP" ] && [ $callbacks = "$NR_SLEEP" ] &&
		   [ $ats_on = "$NR_SLEEP" ]; then
			ktap_test_pass "$name x$NR_SLEEP of $fn0 under load"
		else
			ktap_test_fail "$name x$NR_SLEEP: entered $entered," \
				"callbacks $callbacks, ATS on $ats_on"
		fi
		phase=$((phase + 1))
	done
	# Negative control: suspend-to-idle with the helper failed.
	if fail_arm; then
		oracle_phase 38
		oracle_expect system-sleep-unblocked "$fn0" violation
		sleep_cycles freeze "$NR_SLEEP_NEG"
		fail_disarm
		if [ $entered = "$NR_SLEEP_NEG" ]; then
			msg="suspend-to-idle x$NR_SLEEP_NEG, $fn0 unblocked"
			ktap_test_pass "negative control: $msg"
		else
			msg="suspend-to-idle entered $entered of $NR_SLEEP_NEG"
			ktap_test_fail "negative control: $msg"
		fi
	elif [ "${IOMMU_RESET_BASELINE:-0}" = 1 ]; then
		msg="no pci_dev_suspend_iommu() here (7.3: case 4 shows it)"
		ktap_test_skip "negative control: $msg"
	else
		ktap_test_fail "negative control: cannot fail pci_dev_suspend_iommu()"
	fi
	echo none > /sys/power/pm_test
	[ -n "$old_delay" ] && echo "$old_delay" > /sys/module/suspend/parameters/pm_test_delay
else
	ktap_test_skip "system-sleep-freeze: no /sys/power/pm_test (CONFIG_PM_DEBUG)"
	ktap_test_skip "system-sleep-mem: no /sys/power/pm_test (CONFIG_PM_DEBUG)"
	ktap_test_skip "system sleep negative control: no /sys/power/pm_test"
fi

# 5: an FLR of FN0 under the load, after all that, is clean.
oracle_phase 36
oracle_expect flr-after-pm "$fn0" clean
fail=0
i=0
while [ $i -lt 5 ]; do
	echo 1 > "$SYSFS_PCI/$fn0/reset" 2>/dev/null || fail=$((fail + 1))
	i=$((i + 1))
done
if [ $fail = 0 ] && reset_ats_enabled "$fn0"; then
	ktap_test_pass "FLR x5 of $fn0 under load after its power transitions"
else
	ktap_test_fail "FLR x5 of $fn0 after its power transitions: $fail errors"
fi

oracle_phase 37
reset_unbind "$fn0"
rmmod test_iommu_reset_load

# 6: a bridge leaving D0 blocks every function below it, and a failed block
# is unwound.
bridge_counts() { sed -n "s/^$1 blocks=\([0-9]*\) unblocks=\([0-9]*\)$/\1 \2/p" "$CTL/bridge_pm"; }
bridge_detail() {
	echo "blocks/unblocks $fn0: $(bridge_counts "$fn0"), $fn1: $(bridge_counts "$fn1")," \
		"bridge $bridge: $(bridge_counts "$bridge"); D3hot returned" \
		"$(sed -n 's/^bridge .* ret=//p' "$CTL/bridge_pm")"
}
none_blocked() {
	[ "$(reset_ctl_blocked "$fn0")" = 0 ] && [ "$(reset_ctl_blocked "$fn1")" = 0 ] &&
		! grep -qs . "$blocked_attr"
}
parent=$(dirname "$(readlink -f "$SYSFS_PCI/$fn0")")
bridge=$(basename "$parent")
if [ ! -e "$parent/subordinate_bus_number" ] ||
   [ "$(dirname "$(readlink -f "$SYSFS_PCI/$fn1")")" != "$parent" ]; then
	ktap_test_skip "bridge-walk: $fn0 and $fn1 are not below one bridge"
	ktap_test_skip "bridge-walk-unwind: $fn0 and $fn1 are not below one bridge"
	ktap_test_skip "bridge-walk-locked: $fn0 and $fn1 are not below one bridge"
else
	ok=0
	hooks=0
	if echo "bridge_d3 $bridge" > "$CTL/control" 2>/dev/null; then
		hooks=1
		detail=$(bridge_detail)
		[ "$(bridge_counts "$fn0")" = "1 1" ] && [ "$(bridge_counts "$fn1")" = "1 1" ] &&
			[ "$(bridge_counts "$bridge")" = "1 1" ] && none_blocked && ok=1
		reset_gap_result bridge-walk "$fn0" power-unfenced $ok "$bridge leaving D0: $detail"
	else
		reset_gap_na bridge-walk "$fn0" power-unfenced \
			"$bridge leaving D0: no IOMMU power hooks to count"
	fi
	# The third call of the transition fails: the bridge's own, FN0's, FN1's.
	ok=0
	if [ "$(ls -d "$parent"/????:??:??.? | wc -l)" != 2 ]; then
		ktap_test_skip "bridge-walk-unwind: more functions below $bridge than $fn0 and $fn1"
	elif [ $hooks = 0 ] && [ "${IOMMU_RESET_BASELINE:-0}" = 1 ]; then
		reset_gap_na bridge-walk-unwind "$fn0" power-unfenced \
			"no IOMMU power hooks whose failure could be unwound"
	elif fail_arm; then
		# Only the third call fails, once: fail_function counts calls for
		# its interval only while armed with one above 1, so a run that
		# makes three calls leaves the count where it found it.
		echo 3 > "$FAILFN/interval"
		echo 1 > "$FAILFN/times"
		echo "bridge_d3 $bridge" > "$CTL/control" 2>/dev/null
		left=$(cat "$FAILFN/times")
		fail_disarm
		echo 1 > "$FAILFN/interval"
		detail="$(bridge_detail), injected: $([ "$left" = 0 ] && echo yes || echo no)"
		[ "$left" = 0 ] && [ "$(bridge_counts "$fn0")" = "1 1" ] &&
			[ "$(bridge_counts "$fn1" | cut -d' ' -f2)" = 0 ] &&
			[ "$(bridge_counts "$bridge")" = "1 1" ] && none_blocked && ok=1
		reset_gap_result bridge-walk-unwind "$fn0" power-unfenced $ok \
			"$fn1 failing to block: $detail"
	else
		reset_gap_result bridge-walk-unwind "$fn0" power-unfenced 0 \
			"cannot fail pci_dev_suspend_iommu()"
	fi
	# 7: a caller holding pci_bus_sem. Lockdep reports once and then turns
	# itself off (debug_locks 0), so it must still be on afterwards.
	# debug_locks: 1 while lockdep is on, nothing without lockdep.
	debug_locks() { sed -n 's/^ *debug_locks: *//p' /proc/lockdep_stats 2>/dev/null; }
	ok=0
	reset_kmsg_mark
	if [ "$(debug_locks)" = 0 ]; then
		detail="lockdep was off before the transition (an earlier report)"
	elif echo "bridge_d3_locked $bridge" > "$CTL/control" 2>/dev/null; then
		splat=$(reset_kmsg_new | grep -cE 'possible (recursive|circular) locking|WARNING:')
		lockdep=$(debug_locks)
		detail="$(bridge_detail), lockdep reports $splat, lockdep ${lockdep:-not built in}"
		[ "$(bridge_counts "$fn0")" = "1 1" ] && [ "$(bridge_counts "$fn1")" = "1 1" ] &&
			[ "$(bridge_counts "$bridge")" = "1 1" ] && [ "$splat" = 0 ] &&
			[ "${lockdep:-1}" = 1 ] && none_blocked && ok=1
		reset_gap_result bridge-walk-locked "$fn0" power-unfenced $ok \
			"$bridge leaving D0 under pci_bus_sem: $detail"
	else
		reset_gap_na bridge-walk-locked "$fn0" power-unfenced \
			"$bridge leaving D0 under pci_bus_sem: no IOMMU power hooks to count"
	fi
fi

rmmod test_iommu_reset_ctl
rmmod test_iommu_reset_pm
ktap_finished
