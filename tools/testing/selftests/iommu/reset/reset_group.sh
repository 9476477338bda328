#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Resets in an IOMMU group of several functions that the 7.3 IOMMU reset
# helpers get wrong. Driven through the test_iommu_reset_ctl module, which
# calls the helpers directly, reads the IOMMU core's view of each function
# and claims the group the way VFIO does:
#
#  - DMA aliases: FN0 gets a DMA alias to FN1 (as a quirk would give it), so
#    that both share a requester ID. Blocking FN0 must block FN1 too, and FN0
#    must stay blocked while FN1 is still in reset (7.3: FN1 stays
#    unblocked, FN0 is unblocked early with "DMA-aliased sibling may be
#    prematurely unblocked").
#  - a domain change that must succeed (the release of DMA ownership, as
#    VFIO's close does) while FN0 is in reset: it happens, and done()
#    attaches FN0 to the group's new domain;
#  - PASIDs (the IOMMU driver's own record of each function's PASID
#    attachments is the oracle: VT-d's debugfs iommu/intel/BDF/PASID):
#    a PASID of the group is detached from FN0 while it is in reset and
#    attached again after, FN1 keeps it throughout, and no PASID can be
#    attached to the group while FN0 is in reset (both kernels); a PASID
#    attached to the group while FN0 is quarantined (its reset failed)
#    reaches FN1 but not FN0, and FN0 gets it once a reset succeeds (7.3:
#    FN0 is not quarantined and gets it at once);
#  - removal while blocked: FN0, with its alias to FN1 again, is removed
#    between prepare and done; the group must not stay fenced (7.3: every
#    later claim of the group fails with -EBUSY), and FN1, blocked for
#    sharing FN0's requester ID, must be unblocked with the removal, not
#    stay blocked until its own next reset. Last, because on 7.3 it leaves
#    the group fenced for good.
#
# Usage: reset_group.sh FN0 FN1   (two unbound ATS functions of one group;
#        or IOMMU_RESET_BDF / IOMMU_RESET_SIBLING_BDF)
# With IOMMU_RESET_BASELINE=1 (a 7.3 kernel) the gaps are XFAIL, not FAIL.

DIR=$(dirname "$0")
# shellcheck source=iommu_reset_lib.sh
. "$DIR/iommu_reset_lib.sh"

ktap_print_header
fn0=$(reset_norm_bdf "${1:-${IOMMU_RESET_BDF:-}}")
fn1=$(reset_norm_bdf "${2:-${IOMMU_RESET_SIBLING_BDF:-}}")
reset_require_group_pair "$fn0" "$fn1"
oracle_describe "$fn0"
oracle_describe "$fn1"
reset_load_module test_iommu_reset_ctl 2>/dev/null || reset_skip "cannot load test_iommu_reset_ctl"

ktap_set_plan 8

# 1: the helpers fence the group while a function is in reset (both kernels).
if reset_ctl prepare "$fn0"; then
	reset_ctl claim "$fn1" && fenced=0 || fenced=1
	reset_ctl "done" "$fn0"
	reset_ctl claim "$fn1" && free=1 || free=0
	b=$(reset_ctl_blocked "$fn0")
	if [ "$fenced" = 1 ] && [ "$free" = 1 ] && [ "$b" = 0 ]; then
		ktap_test_pass "claim of the group fails during a reset, works after it"
	else
		ktap_test_fail "claim during reset: fenced=$fenced, after: free=$free blocked=$b"
	fi
else
	ktap_test_fail "prepare on $fn0 failed"
fi

# 2 and 3: functions that share a requester ID (an alias is a devfn on the
# function's own bus).
slot=$(echo "$fn1" | sed 's/.*:\([0-9a-f]*\)\.\([0-7]\)$/\1/')
func=${fn1##*.}
devfn1=$(printf '%x' $(( (0x$slot << 3) | func )))
if reset_ctl alias "$fn0" "$devfn1"; then
	# The peer's blocking in the trace too, where the IOMMU sends
	# device-IOTLB invalidations (not in VT-d with PASIDs, where ATS stays
	# off): a flush of its whole device-IOTLB or an ATS disable.
	reset_ats_enabled "$fn1" && oracle_phase 50 &&
		oracle_expect alias-block-flush "$fn1" blocks gap=alias-blocking ref="$fn0"
	reset_ctl prepare "$fn0"
	peer=$(reset_ctl_blocked "$fn1")
	[ "$ORACLE_PHASE" = 50 ] && oracle_phase 51
	ok=0
	[ "$peer" = 1 ] && ok=1
	reset_gap_result alias-block "$fn0" alias-blocking $ok \
		"prepare on $fn0 blocks its alias $fn1: blocked=$peer"
	reset_ctl prepare "$fn1"
	reset_ctl "done" "$fn0"
	early=$(reset_ctl_blocked "$fn0")
	reset_ctl "done" "$fn1"
	after="$(reset_ctl_blocked "$fn0")$(reset_ctl_blocked "$fn1")"
	ok=0
	[ "$early" = 1 ] && [ "$after" = 00 ] && ok=1
	reset_gap_result alias-unblock "$fn0" alias-blocking $ok \
		"$fn0 stays blocked while $fn1 is in reset: blocked=$early," \
		"both unblocked after: $after"
	reset_ctl unalias "$fn0"
else
	ktap_test_skip "cannot add a DMA alias to $fn0"
	ktap_test_skip "cannot add a DMA alias to $fn0"
fi

# 4: a change of the group's domain that must succeed while FN0 is in
# reset: the release of DMA ownership, as when VFIO closes the group. It
# happens, and leaves FN0 alone: still blocked, and its ATS Enable bit
# unchanged (the IOMMU driver turns ATS off on the blocking domain in VT-d
# legacy mode; attaching FN0 to the group's new domain during its reset
# would turn it on again). done() then attaches FN0 to the new domain.
if reset_ctl own "$fn1"; then
	reset_ctl prepare "$fn0"
	reset_ats_enabled "$fn0" && ats0=on || ats0=off
	reset_ctl disown "$fn1" && rel=ok || rel=failed
	mid=$(reset_ctl_blocked "$fn0")
	reset_ats_enabled "$fn0" && ats1=on || ats1=off
	reset_ctl "done" "$fn0"
	after="$(reset_ctl_blocked "$fn0")$(reset_ctl_blocked "$fn1")"
	msg="release $rel, $fn0 in reset: blocked=$mid, ATS $ats0 -> $ats1;"
	msg="$msg after done, blocked: $after"
	if [ $rel = ok ] && [ "$mid" = 1 ] && [ $ats0 = $ats1 ] && [ "$after" = 00 ]; then
		ktap_test_pass "DMA ownership released while $fn0 is in reset: $msg"
	else
		ktap_test_fail "DMA ownership released while $fn0 is in reset: $msg"
	fi
else
	ktap_test_fail "cannot claim DMA ownership of the group of $fn1"
fi

# 5 and 6: PASIDs, where the IOMMU supports them (VT-d scalable mode with
# PASIDs); QEMU's functions have no PASID capability, so
# test_iommu_reset_ctl gives them one in the IOMMU core's view. The VT-d
# driver records each function's attached PASIDs in debugfs, which is what
# these cases read; that FN1 shows every PASID attached to the group is what
# shows that the record is read right.
pasid_dir=$DEBUGFS/iommu/intel
# pasids PASID: "XY", whether FN0 (X) and FN1 (Y) have PASID attached.
pasids() {
	for f in "$fn0" "$fn1"; do
		[ -d "$pasid_dir/$f/$1" ] && printf 1 || printf 0
	done
}
if [ ! -d "$pasid_dir/$fn0" ]; then
	why="no VT-d debugfs for $fn0 (CONFIG_INTEL_IOMMU_DEBUGFS)"
	ktap_test_skip "PASIDs around a reset: $why"
	ktap_test_skip "pasid-quarantine: $why"
elif ! reset_ctl pasid_attach "$fn0" 1; then
	why="the IOMMU of $fn0 has no PASID support"
	ktap_test_skip "PASIDs around a reset: $why"
	ktap_test_skip "pasid-quarantine: $why"
else
	busy="Device or resource busy"
	before=$(pasids 1)
	reset_ctl prepare "$fn0"
	during=$(pasids 1)
	reset_ctl "done" "$fn0"
	after=$(pasids 1)
	reset_ctl pasid_detach "$fn0" 1
	gone=$(pasids 1)
	# The group is fenced while FN0 is in reset.
	reset_ctl prepare "$fn0"
	fenced=$(reset_ctl_status pasid_attach "$fn0" 1)
	[ "$fenced" = ok ] && reset_ctl pasid_detach "$fn0" 1
	reset_ctl "done" "$fn0"
	msg="PASID 1 on $fn0/$fn1: $before, $fn0 in reset: $during, after done: $after,"
	msg="$msg detached: $gone; attach during a reset: $fenced"
	if [ "$before$during$after$gone" = 11011100 ] && [ "$fenced" = "$busy" ]; then
		ktap_test_pass "PASIDs around a reset: $msg"
	else
		ktap_test_fail "PASIDs around a reset: $msg"
	fi

	reset_ctl prepare "$fn0"
	if reset_ctl failed "$fn0"; then
		how=failed
	else
		reset_ctl "done" "$fn0"
		how="done (no pci_dev_reset_iommu_failed())"
	fi
	kept=$(reset_ctl_blocked "$fn0")
	att=$(reset_ctl_status pasid_attach "$fn0" 1)
	during=$(pasids 1)
	reset_ctl prepare "$fn0"
	reset_ctl "done" "$fn0"
	after=$(pasids 1)
	[ "$att" = ok ] && reset_ctl pasid_detach "$fn0" 1
	gone=$(pasids 1)
	ok=0
	if [ "$how" = failed ]; then
		[ "$kept" = 1 ] && [ "$att" = ok ] && [ "$during$after$gone" = 011100 ] && ok=1
	else
		# 7.3 ends a failed reset with done(), as the PCI core calls it
		# whatever the reset returned: the defect's own observable is the
		# PASID attached afterwards reaching FN0 (X of "XY" is 1).
		[ "$att" = ok ] && [ "${during%?}" = 0 ] && ok=1
	fi
	reset_gap_result pasid-quarantine "$fn0" unquarantined $ok \
		"after a reset ended $how: blocked=$kept; PASID 1 attached to the" \
		"group: $att, on $fn0/$fn1: $during, after a good reset: $after," \
		"detached: $gone"
fi

# 7 and 8: removal between prepare and done, of a function whose alias
# makes it block FN1 with it.
aliased=0
reset_ctl alias "$fn0" "$devfn1" && aliased=1
reset_ctl prepare "$fn0"
before=$(reset_ctl_blocked "$fn1")
echo 1 > "$SYSFS_PCI/$fn0/remove"
after=$(reset_ctl_blocked "$fn1")
reset_ctl claim "$fn1" && ok=1 || ok=0
reset_ctl "done" "$fn0" 2>/dev/null
echo 1 > /sys/bus/pci/rescan
back=no
[ -e "$SYSFS_PCI/$fn0" ] && back=yes
reset_ctl claim "$fn1" && again=1 || again=0
first=EBUSY
[ $ok = 1 ] && first=ok
second=EBUSY
[ $again = 1 ] && second=ok
both=0
[ $ok$again = 11 ] && both=1
reset_gap_result removal-unfences "$fn0" removal-fence $both \
	"claim of the group after removing $fn0 in reset: $first," \
	"after rescan (function back: $back): $second"
# Its precondition is that the peer was blocked with FN0; 7.3 never blocks
# an alias peer, so it has no counterpart there.
if [ $aliased = 0 ]; then
	ktap_test_skip "cannot add a DMA alias to $fn0"
elif [ "${IOMMU_RESET_BASELINE:-0}" = 1 ] && [ "$before" != 1 ]; then
	ktap_test_skip "no counterpart in 7.3: $fn1 is not blocked with its alias $fn0"
elif [ "$before" = 1 ] && [ "$after" = 0 ]; then
	ktap_test_pass "removing $fn0 in reset unblocks its alias peer $fn1"
else
	ktap_test_fail "removing $fn0 in reset unblocks its alias peer $fn1" \
		"(blocked before the removal: $before, after: $after)"
fi

rmmod test_iommu_reset_ctl
ktap_finished
