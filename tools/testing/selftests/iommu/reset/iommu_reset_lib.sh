# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
#
# Shared helpers of the IOMMU reset selftests (POSIX sh, busybox friendly).
#
# Device selection follows the VFIO selftests: a PCI function named by BDF on
# the command line or in $IOMMU_RESET_BDF; without one the tests SKIP.
#
# Under QEMU ($IOMMU_RESET_ORACLE=1) the tests also leave phase markers in
# QEMU's trace and print "# oracle-..." lines; the host-side oracle
# (tools/oracle in the project) checks the trace against them.

KSFT_LIB_DIR=$(dirname "$0")/../../kselftest
. "$KSFT_LIB_DIR/ktap_helpers.sh"

SYSFS_PCI=/sys/bus/pci/devices
DEBUGFS=/sys/kernel/debug

# What real hardware reports when a function did not answer an ATS
# invalidation, or faulted, while the IOMMU drivers in question drive it:
# VT-d's Invalidation Time-out Error, arm-smmu-v3's "ATC invalidate
# timeout", AMD-Vi's completion-wait timeout, and the three drivers' fault
# reports. QEMU never produces them (it completes every invalidation at
# once); its oracle counts the invalidations instead.
RESET_KMSG_RE='Invalidation Time-out Error|ATC invalidate timeout|CMD_SYNC timeout'
RESET_KMSG_RE="$RESET_KMSG_RE|Completion-Wait loop timed out"
RESET_KMSG_RE="$RESET_KMSG_RE|DMAR: \\[DMA (Read|Write)|DMAR: DRHD: handling fault"
RESET_KMSG_RE="$RESET_KMSG_RE|AMD-Vi: Event logged \\[(IO_PAGE_FAULT|INVALID_DEVICE_REQUEST)"
RESET_KMSG_RE="$RESET_KMSG_RE|event 0x[0-9a-f]+ received"

# reset_kmsg_mark: remember where the kernel log is now (its last printk
# timestamp, or its length where it has none).
reset_kmsg_mark() {
	RESET_KMSG_MARK=$(dmesg | sed -n 's/^\[ *\([0-9]*\.[0-9]*\)\].*/\1/p' | tail -n1)
	RESET_KMSG_LINES=$(dmesg | wc -l)
}

# reset_kmsg_new: the kernel log since the mark.
reset_kmsg_new() {
	if [ -n "${RESET_KMSG_MARK:-}" ]; then
		dmesg | awk -v m="$RESET_KMSG_MARK" '
			match($0, /^\[ *[0-9]+\.[0-9]+\]/) {
				t = substr($0, RSTART + 1, RLENGTH - 2) + 0
				if (t > m + 0) print
			}'
	else
		dmesg | tail -n +$((${RESET_KMSG_LINES:-0} + 1))
	fi
}

# reset_kmsg_quiet: true when the kernel reported no invalidation timeout or
# IOMMU fault since the mark; prints the reports otherwise.
reset_kmsg_quiet() {
	reports=$(reset_kmsg_new | grep -E "$RESET_KMSG_RE")
	[ -z "$reports" ] && return 0
	echo "$reports" | head -n 5 | while IFS= read -r l; do
		echo "# kernel: $l"
	done
	return 1
}

# reset_kmsg_expect_splat begin|end: on the 7.3 baseline, a case that drives
# a path on which that kernel warns marks where in the kernel log; the
# harness's guest, which fails a run on any splat, skips those between the
# marks (and only on the baseline).
reset_kmsg_expect_splat() {
	echo "iommu_reset selftest: expected splat $1" > /dev/kmsg 2>/dev/null || true
}

# Every passing case of these tests also proves that the kernel reported no
# invalidation timeout or IOMMU fault while it ran (a case that only checked
# "the reset returned 0" would not test the property on real hardware). A
# negative control that expects such reports sets RESET_KMSG_ALLOW=1.
ktap_test_pass() {
	if [ "${RESET_KMSG_ALLOW:-0}" = 1 ] || reset_kmsg_quiet; then
		__ktap_test "ok" "$1"
		KTAP_CNT_PASS=$((KTAP_CNT_PASS + 1))
	else
		__ktap_test "not ok" "$1 (kernel reported an invalidation timeout or IOMMU fault)"
		KTAP_CNT_FAIL=$((KTAP_CNT_FAIL + 1))
	fi
	reset_kmsg_mark
}

# reset_bind DRIVER BDF: bind DRIVER to the function through driver_override,
# unbinding the driver it has first; true when DRIVER is bound.
reset_bind() {
	[ -e "$SYSFS_PCI/$2/driver" ] && echo "$2" > "$SYSFS_PCI/$2/driver/unbind"
	echo "$1" > "$SYSFS_PCI/$2/driver_override"
	echo "$2" > /sys/bus/pci/drivers_probe 2>/dev/null
	[ "$(basename "$(readlink "$SYSFS_PCI/$2/driver")")" = "$1" ]
}

# reset_unbind BDF: unbind the function's driver, clear its driver_override.
reset_unbind() {
	[ -e "$SYSFS_PCI/$1/driver" ] && echo "$1" > "$SYSFS_PCI/$1/driver/unbind"
	echo > "$SYSFS_PCI/$1/driver_override"
}

# Full BDF (domain included) or nothing.
reset_norm_bdf() {
	case $1 in
	????:??:??.?) echo "$1" ;;
	??:??.?) echo "0000:$1" ;;
	esac
}

# cfg_read BDF OFFSET BYTES: little-endian config-space read, decimal. (One
# process: the reset loops call it after every reset.)
cfg_read() {
	# shellcheck disable=SC2046
	set -- $(od -An -tu$3 -j "$2" -N "$3" "$SYSFS_PCI/$1/config" 2>/dev/null)
	echo "${1:-}"
}

# cfg_find_cap BDF ID: offset of a standard capability, or 0.
cfg_find_cap() {
	status=$(cfg_read "$1" 6 2)
	[ $(( ${status:-0} & 0x10 )) -ne 0 ] || { echo 0; return; }
	ptr=$(( $(cfg_read "$1" 52 1) & 0xfc ))
	n=0
	while [ "$ptr" -ne 0 ] && [ $n -lt 48 ]; do
		[ "$(cfg_read "$1" "$ptr" 1)" -eq "$2" ] && { echo "$ptr"; return; }
		ptr=$(( $(cfg_read "$1" $((ptr + 1)) 1) & 0xfc ))
		n=$((n + 1))
	done
	echo 0
}

# cfg_find_ext_cap BDF ID: offset of a PCIe extended capability, or 0.
cfg_find_ext_cap() {
	off=256
	n=0
	while [ "$off" -ge 256 ] && [ $n -lt 64 ]; do
		hdr=$(cfg_read "$1" "$off" 4)
		[ -n "$hdr" ] && [ "$hdr" -ne 0 ] || break
		[ $((hdr & 0xffff)) -eq "$2" ] && { echo "$off"; return; }
		off=$(( (hdr >> 20) & 0xffc ))
		n=$((n + 1))
	done
	echo 0
}

reset_ats_cap() { cfg_find_ext_cap "$1" 15; }

# reset_ats_enabled BDF: true when the ATS Enable bit is set. The capability's
# offset is looked up once per function (the reset loops call this after
# every reset).
reset_ats_enabled() {
	if [ "$1" != "${RESET_ATS_BDF:-}" ]; then
		RESET_ATS_OFF=$(reset_ats_cap "$1")
		RESET_ATS_BDF=$1
		# A function that did not answer has no offset to remember.
		[ "$RESET_ATS_OFF" -ne 0 ] || RESET_ATS_BDF=
	fi
	ats=$RESET_ATS_OFF
	[ "$ats" -ne 0 ] || return 1
	[ $(( $(cfg_read "$1" $((ats + 6)) 2) & 0x8000 )) -ne 0 ]
}

# The bridge directly above a function, from its sysfs path.
reset_parent_bridge() {
	p=$(readlink -f "$SYSFS_PCI/$1/..")
	b=${p##*/}
	[ -e "$SYSFS_PCI/$b" ] && echo "$b" || echo none
}

# Describe a function to the oracle: where its reset and ATS registers are.
oracle_describe() {
	[ "${IOMMU_RESET_ORACLE:-0}" = 1 ] || return 0
	exp=$(cfg_find_cap "$1" 16)
	pm=$(cfg_find_cap "$1" 1)
	ats=$(reset_ats_cap "$1")
	# The AF capability (0x13), where a function has one: its FLR too.
	af=$(cfg_find_cap "$1" 19)
	printf '# oracle-dev bdf=%s exp=0x%x pm=0x%x ats=0x%x bridge=%s af=0x%x\n' \
		"$1" "$exp" "$pm" "$ats" "$(reset_parent_bridge "$1")" "$af"
}

# Start oracle phase N (1-255): a write of N to the Interrupt Line register
# of the host bridge 00:00.0, which has no effect but shows in QEMU's trace.
ORACLE_PHASE=0
oracle_phase() {
	[ "${IOMMU_RESET_ORACLE:-0}" = 1 ] || return 0
	ORACLE_PHASE=$1
	printf "\\$(printf %o "$1")" |
		dd of=$SYSFS_PCI/0000:00:00.0/config bs=1 seek=60 count=1 conv=notrunc 2>/dev/null
	# Let QEMU's trace flush order the marker before what follows.
	sleep 0.1
}

# oracle_expect NAME BDF clean|violation|no-block|no-attach|attach-reaches [gap=NAME]:
# what the current phase must show for BDF: no device-IOTLB invalidation
# inside a reset window (clean; for every function a bus reset resets), at
# least one (violation, the negative controls), no blocking at all
# (no-block: no reset and no ATS disable), no flush of the whole
# device-IOTLB, which a domain change sends, inside a window (no-attach) or
# at least one (attach-reaches, its negative control), or its blocking
# (blocks: a whole device-IOTLB flush or an ATS disable, no reset needed;
# ref=BDF names a function surely blocked in the phase, without whose
# blocking the phase counts as unseen). gap= names a known gap of the 7.3
# helpers that this expectation shows; it comes before ref=.
oracle_expect() {
	[ "${IOMMU_RESET_ORACLE:-0}" = 1 ] || return 0
	oe_name=$1 oe_bdf=$2 oe_kind=$3
	shift 3
	echo "# oracle-expect phase=$ORACLE_PHASE name=$oe_name bdf=$oe_bdf" \
		"expect=$oe_kind${*:+ $*}"
}

# reset_skip REASON: skip the whole test (KTAP) and exit.
reset_skip() {
	ktap_skip_all "$*"
	exit "$KSFT_SKIP"
}

# reset_require_function BDF [unbound]: skip unless BDF names an ATS-capable
# PCI function (and, with "unbound", one without a driver) and debugfs is
# mounted.
reset_require_function() {
	[ -n "$1" ] || reset_skip "no device: pass a BDF or set IOMMU_RESET_BDF"
	[ -e "$SYSFS_PCI/$1" ] || reset_skip "no PCI function $1"
	[ "$(reset_ats_cap "$1")" -ne 0 ] || reset_skip "$1 has no ATS capability"
	[ "${2:-}" != unbound ] || [ ! -e "$SYSFS_PCI/$1/driver" ] ||
		reset_skip "$1 is bound to a driver; unbind it first"
	[ -d "$DEBUGFS" ] || reset_skip "debugfs not mounted"
}

# reset_require_group_pair FN0 FN1: skip unless FN0 and FN1 are two unbound
# ATS-capable functions (see reset_require_function) of one IOMMU group.
reset_require_group_pair() {
	reset_require_function "$1" unbound
	reset_require_function "$2" unbound
	g0=$(readlink "$SYSFS_PCI/$1/iommu_group" 2>/dev/null)
	g1=$(readlink "$SYSFS_PCI/$2/iommu_group" 2>/dev/null)
	[ -n "$g0" ] && [ "$g0" = "$g1" ] || reset_skip "$1 and $2 are not in one IOMMU group"
}

# The streaming-DMA load generator (test_modules/test_iommu_reset_load).
LOAD=$DEBUGFS/test_iommu_reset_load

# reset_start_load BDF: start loading BDF with one thread, or skip.
reset_start_load() {
	reset_load_module test_iommu_reset_load bdf="$1" threads=1 2>/dev/null ||
		reset_skip "cannot load test_iommu_reset_load"
}

# Map/unmap operations of the load generator so far.
ops() { sed -n 's/^ops //p' "$LOAD/stats"; }

# Load a test module by name: from the tests' test_modules/, from
# $IOMMU_RESET_MODDIR, or with modprobe.
reset_load_module() {
	mod=$1
	shift
	# The kselftest install puts the test modules next to the tests.
	if [ -f "$(dirname "$0")/test_modules/$mod.ko" ]; then
		insmod "$(dirname "$0")/test_modules/$mod.ko" "$@"
		return
	fi
	if [ -n "${IOMMU_RESET_MODDIR:-}" ]; then
		ko=$(find "$IOMMU_RESET_MODDIR" -name "$mod.ko" 2>/dev/null | head -n1)
		[ -n "$ko" ] && { insmod "$ko" "$@"; return; }
	fi
	modprobe "$mod" "$@"
}

# The reset control module (test_modules/test_iommu_reset_ctl): drives the
# IOMMU reset helpers directly and shows the IOMMU core's view.
CTL=$DEBUGFS/test_iommu_reset_ctl

# reset_ctl COMMAND BDF [ARG]: one command to the control module; fails when the
# command does (e.g. claim with -EBUSY).
reset_ctl() { echo "$*" 2>/dev/null > "$CTL/control"; }

# reset_ctl_status COMMAND...: "ok", or the error the command failed with
# ("Device or resource busy", ...).
reset_ctl_status() {
	err=$( { echo "$*" > "$CTL/control"; } 2>&1 ) && echo ok && return
	[ -n "$err" ] || err=": failed"
	echo "${err##*: }"
}

# reset_ctl_blocked BDF: 1 when the IOMMU core has BDF on its blocking domain.
reset_ctl_blocked() { sed -n "s/^$1 blocked=\([01]\).*/\1/p" "$CTL/state"; }

# reset_ctl_failed_waits BDF: pci_dev_wait() failures injected for BDF.
reset_ctl_failed_waits() { sed -n "s/^$1 .*failed_waits=\([0-9]*\).*/\1/p" "$CTL/state"; }

# reset_gap_result NAME BDF GAP OK DETAIL...: a behaviour that the 7.3
# helpers get wrong (known gap GAP), as observed in the guest: PASS when OK
# is 1, otherwise FAIL, or XFAIL when $IOMMU_RESET_BASELINE=1 says that the
# kernel under test is the 7.3 baseline. Under QEMU the host-side oracle
# collects these lines for its upstream-vs-ours table.
reset_gap_result() {
	name=$1 gbdf=$2 gap=$3 ok=$4
	shift 4
	[ "${IOMMU_RESET_ORACLE:-0}" = 1 ] &&
		echo "# guest-verdict name=$name bdf=$gbdf gap=$gap ok=$ok $*"
	if [ "$ok" = 1 ]; then
		ktap_test_pass "$name on $gbdf: $*"
	elif [ "${IOMMU_RESET_BASELINE:-0}" = 1 ]; then
		ktap_test_xfail "$name on $gbdf: $* (known gap of 7.3: $gap)"
	else
		ktap_test_fail "$name on $gbdf: $* (gap $gap)"
	fi
}

# reset_gap_na NAME BDF GAP WHY...: a gap test that has nothing to observe
# on this kernel (on the 7.3 baseline: what it checks does not exist there).
# A SKIP, and a verdict the differential table reads as n/a (not shown). On
# any other kernel that is a FAIL: the patched tree must have it.
reset_gap_na() {
	name=$1 gbdf=$2 gap=$3
	shift 3
	if [ "${IOMMU_RESET_BASELINE:-0}" = 1 ]; then
		[ "${IOMMU_RESET_ORACLE:-0}" = 1 ] &&
			echo "# guest-verdict name=$name bdf=$gbdf gap=$gap ok=na $*"
		ktap_test_skip "$name on $gbdf: no counterpart in 7.3: $*"
	else
		reset_gap_result "$name" "$gbdf" "$gap" 0 "$*"
	fi
}

# reset_kmsg_selftest: the scan above catches a report: one is written to
# the kernel log (marked as injected), and must be found; the mark is moved
# past it afterwards.
reset_kmsg_selftest() {
	reset_kmsg_mark
	sleep 0.01
	msg="DMAR: QI HEAD: Invalidation Time-out Error (ITE) cleared"
	echo "iommu_reset selftest: injected report: $msg" > /dev/kmsg 2>/dev/null || return 2
	if reset_kmsg_quiet > /dev/null; then
		st=1
	else
		st=0
	fi
	reset_kmsg_mark
	return $st
}

reset_kmsg_mark
