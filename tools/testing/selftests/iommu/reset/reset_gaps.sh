#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Resets that the 7.3 IOMMU reset helpers do not cover, each with what it
# must (not) do to the IOMMU. On 7.3 the oracle sees these fail; with this
# project's patches they pass.
#
#  - reset_subordinate: a secondary bus reset of the bridge above the
#    function, under DMA load: no device-IOTLB invalidation may reach the
#    function inside the bus-reset window;
#  - reset_method: writing the attribute only probes the methods: the
#    function must not be blocked (no ATS toggle in VT-d legacy mode);
#  - a failed reset (pci_dev_wait() made to fail by test_iommu_reset_ctl):
#    the function must stay blocked, with the group's fence lifted, until a
#    later reset succeeds;
#  - pci_reset_bus() of the function (test_iommu_reset_ctl's reset_bus), the
#    slot or bus reset of VFIO's hot reset, under DMA load: as for
#    reset_subordinate;
#  - AER recovery of a fatal error that the function signals (asked of the
#    emulator), bound to test_iommu_reset_pm, whose error handlers ask for a
#    reset:
#    aer_root_reset() resets the bus below the Root Port (the bus error
#    reset), under DMA load: as for reset_subordinate;
#  - an IOMMU driver that cannot re-attach the function after its reset
#    (an allocation failure injected with fail-nth): the function must stay
#    quarantined until a reset succeeds, as after a failed reset.
#
# Usage: reset_gaps.sh [BDF]   (or IOMMU_RESET_BDF=BDF)
# Needs: an ATS-capable function without a driver whose upstream bridge
# offers reset_subordinate, and the test_iommu_reset_load and
# test_iommu_reset_ctl modules; the AER case also test_iommu_reset_pm, an
# AER capability on the function, native AER on its Root Port and a way to
# make the function signal an error (IOMMU_RESET_HOST_REQUEST: the
# harness's QEMU), and skips without them. With IOMMU_RESET_BASELINE=1 (a 7.3 kernel)
# the failed-reset case is XFAIL, not FAIL. The group's sysfs "blocked"
# attribute must show the quarantine, and a failure inside a nested reset
# must quarantine too (neither exists on 7.3).

DIR=$(dirname "$0")
# shellcheck source=iommu_reset_lib.sh
. "$DIR/iommu_reset_lib.sh"

NR_SBR=${IOMMU_RESET_NR_SBR:-5}
NR_PROBE=${IOMMU_RESET_NR_PROBE:-10}
NR_AER=${IOMMU_RESET_NR_AER:-3}

ktap_print_header
bdf=$(reset_norm_bdf "${1:-${IOMMU_RESET_BDF:-}}")
reset_require_function "$bdf" unbound
bridge=$(reset_parent_bridge "$bdf")
reset_start_load "$bdf"

ktap_set_plan 9
oracle_describe "$bdf"

# bus_resets WHAT NAME COMMAND...: NR_SBR bus resets of the function under
# the load, each by COMMAND; the result NAME passes when every reset
# succeeded, the function answered after each and the load kept running.
bus_resets() {
	what=$1 name=$2
	shift 2
	ops0=$(ops)
	fail=0 alive=0
	i=0
	while [ $i -lt "$NR_SBR" ]; do
		"$@" || fail=$((fail + 1))
		[ "$(cfg_read "$bdf" 0 2)" != 65535 ] && alive=$((alive + 1))
		i=$((i + 1))
	done
	ktap_print_msg "$what: $NR_SBR, errors $fail," \
		"function answering after $alive, load ops $(($(ops) - ops0))"
	if [ $fail -eq 0 ] && [ $alive -eq "$NR_SBR" ] && [ $(($(ops) - ops0)) -gt 0 ]; then
		ktap_test_pass "$name under DMA load"
	else
		ktap_test_fail "$name under DMA load"
	fi
}

reset_subordinate() { echo 1 2>/dev/null > "$SYSFS_PCI/$bridge/reset_subordinate"; }

# quarantine_then_reset: after a reset that should have left the function
# quarantined, what the group's "blocked" attribute shows (shown), whether
# the group can be claimed (claim: its fence lifted), then a good FLR
# (again: its status) and the state after it (after, shown_after).
blocked_attr=$SYSFS_PCI/$bdf/iommu_group/blocked
quarantine_then_reset() {
	shown=$(cat "$blocked_attr" 2>/dev/null)
	reset_ctl claim "$bdf" && claim=ok || claim=EBUSY
	echo 1 > "$SYSFS_PCI/$bdf/reset" 2>/dev/null && again=0 || again=1
	after=$(reset_ctl_blocked "$bdf")
	shown_after=$(cat "$blocked_attr" 2>/dev/null)
}

# 1: secondary bus reset through the bridge's reset_subordinate attribute.
if [ "$bridge" != none ] && [ -e "$SYSFS_PCI/$bridge/reset_subordinate" ]; then
	oracle_phase 20
	oracle_expect reset-subordinate "$bdf" clean gap=bus-reset-unhooked
	bus_resets "reset_subordinate on $bridge" "reset_subordinate x$NR_SBR on $bridge" \
		reset_subordinate
else
	ktap_test_skip "reset_subordinate: no bridge attribute above $bdf"
fi

# 2: probing reset methods through reset_method must not block the function.
oracle_phase 21
oracle_expect reset-method-probe "$bdf" no-block gap=probe-blocks
old=$(cat "$SYSFS_PCI/$bdf/reset_method")
fail=0
i=0
while [ $i -lt "$NR_PROBE" ]; do
	echo bus > "$SYSFS_PCI/$bdf/reset_method" 2>/dev/null || fail=$((fail + 1))
	echo default > "$SYSFS_PCI/$bdf/reset_method" 2>/dev/null || fail=$((fail + 1))
	i=$((i + 1))
done
echo "$old" > "$SYSFS_PCI/$bdf/reset_method"
now=$(cat "$SYSFS_PCI/$bdf/reset_method")
ktap_print_msg "reset_method probes: $((NR_PROBE * 2)), errors $fail, methods now '$now'"
if [ $fail -eq 0 ] && [ "$now" = "$old" ] && reset_ats_enabled "$bdf"; then
	ktap_test_pass "reset_method probes x$((NR_PROBE * 2))"
else
	ktap_test_fail "reset_method probes x$((NR_PROBE * 2))"
fi
# 3: a reset that fails keeps the function blocked until a reset succeeds.
if reset_load_module test_iommu_reset_ctl 2>/dev/null; then
	oracle_phase 22
	oracle_expect failed-reset "$bdf" clean
	old=$(cat "$SYSFS_PCI/$bdf/reset_method")
	# FLR only: a failed FLR would otherwise fall back to the next method.
	echo flr > "$SYSFS_PCI/$bdf/reset_method"
	if reset_ctl fail_wait "$bdf"; then
		echo 1 > "$SYSFS_PCI/$bdf/reset" 2>/dev/null && failed=0 || failed=1
		hits=$(reset_ctl_failed_waits "$bdf")
		kept=$(reset_ctl_blocked "$bdf")
		quarantine_then_reset
		if [ "$failed" = 1 ] && [ "$hits" = 1 ] && [ "$again" = 0 ]; then
			ok=0
			[ "$kept" = 1 ] && [ "$after" = 0 ] && [ $claim = ok ] && ok=1
			reset_gap_result failed-reset "$bdf" unquarantined $ok \
				"after a failed FLR: blocked=$kept, group claim $claim;" \
				"after a good FLR: blocked=$after"
			# 4: the group's "blocked" attribute shows the quarantine
			# (7.3 has no such attribute: nothing to check there).
			if [ ! -e "$blocked_attr" ] && [ "${IOMMU_RESET_BASELINE:-0}" = 1 ]; then
				ktap_test_skip "quarantine in sysfs: no iommu_group/blocked here"
			elif echo "$shown" | grep -qx "$bdf quarantined" &&
			     ! echo "$shown_after" | grep -q "^$bdf "; then
				msg="lists $bdf as quarantined, then no more"
				ktap_test_pass "quarantine in sysfs: iommu_group/blocked $msg"
			else
				msg="after a failed FLR: '$shown', a good one: '$shown_after'"
				ktap_test_fail "quarantine in sysfs: iommu_group/blocked $msg"
			fi
		else
			why="reset failed: $failed, injected: $hits, second reset failed: $again"
			ktap_test_fail "failed-reset on $bdf: injection did not work ($why)"
			ktap_test_skip "quarantine in sysfs: no failed reset to show"
		fi
	else
		ktap_test_skip "failed-reset: cannot make pci_dev_wait() fail (kretprobes?)"
		ktap_test_skip "quarantine in sysfs: no failed reset to show"
	fi
	echo "$old" > "$SYSFS_PCI/$bdf/reset_method"
	# 5: a failure inside a nested reset (an FLR inside a device-specific
	# reset that then returns -ENOTTY, "not run") still quarantines.
	reset_ctl prepare "$bdf"
	reset_ctl prepare "$bdf"
	if reset_ctl failed "$bdf"; then
		reset_ctl "done" "$bdf"
		kept=$(reset_ctl_blocked "$bdf")
		shown=$(cat "$blocked_attr" 2>/dev/null)
		reset_ctl prepare "$bdf"
		reset_ctl "done" "$bdf"
		after=$(reset_ctl_blocked "$bdf")
		msg="blocked=$kept ('$shown'), after a good reset: blocked=$after"
		if [ "$kept" = 1 ] && echo "$shown" | grep -qx "$bdf quarantined" &&
		   [ "$after" = 0 ]; then
			ktap_test_pass "nested failed reset quarantines: $msg"
		else
			ktap_test_fail "nested failed reset quarantines: $msg"
		fi
	else
		reset_ctl "done" "$bdf"
		reset_ctl "done" "$bdf"
		if [ "${IOMMU_RESET_BASELINE:-0}" = 1 ]; then
			ktap_test_skip "nested failed reset: no pci_dev_reset_iommu_failed() here"
		else
			ktap_test_fail "nested failed reset: pci_dev_reset_iommu_failed() not found"
		fi
	fi
	rmmod test_iommu_reset_ctl
else
	ktap_test_skip "failed-reset: no test_iommu_reset_ctl module"
	ktap_test_skip "quarantine in sysfs: no test_iommu_reset_ctl module"
	ktap_test_skip "nested failed reset: no test_iommu_reset_ctl module"
fi

# 6: pci_reset_bus(), as VFIO's hot reset calls it (VFIO_DEVICE_PCI_HOT_RESET).
if [ "$bridge" = none ]; then
	ktap_test_skip "pci_reset_bus: no bridge above $bdf"
elif ! reset_load_module test_iommu_reset_ctl 2>/dev/null; then
	ktap_test_skip "pci_reset_bus: no test_iommu_reset_ctl module"
else
	oracle_phase 24
	oracle_expect hot-reset "$bdf" clean gap=bus-reset-unhooked
	bus_resets "pci_reset_bus of $bdf" "pci_reset_bus x$NR_SBR of $bdf" \
		reset_ctl reset_bus "$bdf"
	rmmod test_iommu_reset_ctl
fi

# 7: AER's bus error reset. The error is Malformed TLP, fatal by default
# (Uncorrectable Error Severity), so the function is frozen and the
# recovery resets the bus below its Root Port. The device itself must
# signal it: the emulator does so when asked on $IOMMU_RESET_HOST_REQUEST
# (the harness's QEMU monitor). aer_inject is no substitute: on 7.3 it
# takes a spinlock_t inside the raw pci_lock, which lockdep reports
# ("Invalid wait context"), and lockdep is then off for the rest of the
# boot.
# pm_count FIELD: how often test_iommu_reset_pm's callback FIELD ran for BDF.
pm_count() { sed -n "s/^$bdf .* $1=\([0-9]*\).*/\1/p" "$DEBUGFS/test_iommu_reset_pm/stats"; }
aer_fatal() { echo "host-request aer-fatal bdf=$1" > "$IOMMU_RESET_HOST_REQUEST"; }
root=$bdf
while [ "$(reset_parent_bridge "$root")" != none ]; do root=$(reset_parent_bridge "$root"); done
if [ "$bridge" = none ]; then
	ktap_test_skip "aer-bus-reset: no Root Port above $bdf"
elif [ -z "${IOMMU_RESET_HOST_REQUEST:-}" ]; then
	ktap_test_skip "aer-bus-reset: no IOMMU_RESET_HOST_REQUEST to make $bdf signal an error"
elif ! ls -d "$SYSFS_PCI/$root/$root:pcie"?02 > /dev/null 2>&1; then
	ktap_test_skip "aer-bus-reset: no AER service on $root (AER not native here)"
elif [ "$(cfg_find_ext_cap "$bdf" 1)" = 0 ]; then
	ktap_test_skip "aer-bus-reset: $bdf has no AER capability"
elif ! reset_load_module test_iommu_reset_pm 2>/dev/null; then
	ktap_test_skip "aer-bus-reset: cannot load test_iommu_reset_pm"
elif ! reset_bind test_iommu_reset_pm "$bdf"; then
	reset_unbind "$bdf"
	rmmod test_iommu_reset_pm
	ktap_test_skip "aer-bus-reset: cannot bind test_iommu_reset_pm to $bdf"
else
	oracle_phase 25
	oracle_expect aer-bus-reset "$bdf" clean gap=bus-reset-unhooked
	reset_kmsg_mark
	ops0=$(ops)
	fail=0 alive=0
	i=0
	while [ $i -lt "$NR_AER" ]; do
		aer_fatal "$bdf" || fail=$((fail + 1))
		# A recovery ends with the driver's resume callback, or fails.
		n=0
		while [ "$(pm_count error_resume)" -le $i ] && [ $n -lt 100 ] &&
		      ! reset_kmsg_new | grep -q "$root: AER: device recovery failed"; do
			sleep 0.1
			n=$((n + 1))
		done
		[ "$(cfg_read "$bdf" 0 2)" != 65535 ] && alive=$((alive + 1))
		i=$((i + 1))
	done
	good=$(reset_kmsg_new | grep -c "$root: AER: device recovery successful")
	resets=$(pm_count slot_reset)
	ktap_print_msg "fatal errors signalled by $bdf: $NR_AER, errors $fail, recovered $good," \
		"driver slot_reset $resets, function answering after $alive," \
		"load ops $(($(ops) - ops0))"
	if [ $fail -eq 0 ] && [ "$good" = "$NR_AER" ] && [ "$resets" = "$NR_AER" ] &&
	   [ $alive -eq "$NR_AER" ] && [ $(($(ops) - ops0)) -gt 0 ]; then
		ktap_test_pass "AER recovery x$NR_AER of $bdf (bus reset below $root) under load"
	else
		ktap_test_fail "AER recovery x$NR_AER of $bdf (bus reset below $root) under load"
	fi
	reset_unbind "$bdf"
	rmmod test_iommu_reset_pm
fi

# 8: the IOMMU driver fails to re-attach the function after a reset. The
# kernel's fault injection fails the Nth allocation of the task that
# writes the reset attribute (fail-nth, through failslab), for N = 1, 2,
# ... until one lands in the re-attach of done() (the kernel says so):
# each failure before it must leave the function as it was, and the one in
# the re-attach must quarantine it, with the group's fence lifted, until a
# reset succeeds. 7.3 warns and marks it unblocked.
# reattach_try N: the reset with the Nth allocation failing; prints the
# write's status and what was left of N ("0": the failure was injected).
# The files are open before N is set: only the write itself allocates.
reattach_try() {
	sh -c 'exec 2>/dev/null 3> "$1" 4> "/proc/$$/task/$$/fail-nth" \
		5< "/proc/$$/task/$$/fail-nth" || exit 2
	echo "$2" >&4
	echo 1 >&3
	rc=$?
	read -r left <&5
	echo 0 >&4
	echo "$rc $left"' reattach "$SYSFS_PCI/$bdf/reset" "$1"
}
REATTACH_MAX=${IOMMU_RESET_NR_FAILNTH:-40}
reattach_msg="cannot re-attach to the IOMMU domain"
baseline_warn="WARNING: .* pci_dev_reset_iommu_done"
failslab=$DEBUGFS/failslab
if [ ! -d "$failslab" ] || [ ! -e /proc/self/task/$$/fail-nth ]; then
	ktap_test_skip "fail-nth: no failslab or fail-nth here (CONFIG_FAILSLAB)"
	ktap_test_skip "reattach-failed: no failslab or fail-nth here (CONFIG_FAILSLAB)"
elif ! reset_load_module test_iommu_reset_ctl 2>/dev/null; then
	ktap_test_skip "fail-nth: no test_iommu_reset_ctl module"
	ktap_test_skip "reattach-failed: no test_iommu_reset_ctl module"
else
	oracle_phase 26
	oracle_expect reattach-failed "$bdf" clean
	old=$(cat "$SYSFS_PCI/$bdf/reset_method")
	echo flr > "$SYSFS_PCI/$bdf/reset_method"
	echo N > "$failslab/ignore-gfp-wait"
	# 7.3's WARNING is what this case shows there: not a splat of the run.
	[ "${IOMMU_RESET_BASELINE:-0}" = 1 ] && reset_kmsg_expect_splat begin
	n=0 hit=0 bad="" tried=0
	while [ $hit = 0 ] && [ $n -lt "$REATTACH_MAX" ]; do
		n=$((n + 1))
		reset_kmsg_mark
		out=$(reattach_try $n)
		rc=${out%% *} left=${out#* }
		kept=$(reset_ctl_blocked "$bdf")
		if reset_kmsg_new | grep -qE "$bdf: $reattach_msg|$baseline_warn"; then
			hit=$n
		elif [ "$left" != 0 ]; then
			break
		else
			tried=$n
			[ "$kept" = 0 ] ||
				bad="$bad #$n (write $rc: blocked, '$(cat "$blocked_attr")')"
		fi
	done
	echo Y > "$failslab/ignore-gfp-wait"
	[ "${IOMMU_RESET_BASELINE:-0}" = 1 ] && reset_kmsg_expect_splat end
	if [ -z "$bad" ]; then
		msg="$tried allocation failures before the re-attach left $bdf unblocked"
		ktap_test_pass "fail-nth: $msg"
	else
		ktap_test_fail "fail-nth: allocation failures left $bdf blocked:$bad"
	fi
	if [ $hit = 0 ]; then
		msg="no allocation of the re-attach in $n tries (left $left)"
		ktap_test_fail "reattach-failed on $bdf: $msg"
	else
		quarantine_then_reset
		# The defect's own observable is the IOMMU core's view of the
		# function (kept: on 7.3 it is marked unblocked although its
		# re-attach failed); iommu_group/blocked, which 7.3 does not have,
		# is checked where it exists and must exist on any other kernel.
		listed=1
		if [ -e "$blocked_attr" ] || [ "${IOMMU_RESET_BASELINE:-0}" != 1 ]; then
			echo "$shown" | grep -qx "$bdf quarantined" &&
				! echo "$shown_after" | grep -q "^$bdf " || listed=0
		fi
		ok=0
		[ "$rc" = 0 ] && [ "$kept" = 1 ] && [ $listed = 1 ] && [ $claim = ok ] &&
			[ "$again" = 0 ] && [ "$after" = 0 ] && ok=1
		reset_gap_result reattach-failed "$bdf" reattach-unblocked $ok \
			"allocation #$hit failed in the re-attach: reset $rc, blocked=$kept" \
			"('$shown'), group claim $claim; after a good FLR: blocked=$after"
	fi
	echo "$old" > "$SYSFS_PCI/$bdf/reset_method"
	rmmod test_iommu_reset_ctl
fi

oracle_phase 23
rmmod test_iommu_reset_load
ktap_finished
