#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# A secondary bus reset resets every function below the bridge, at any
# depth (through a switch: its upstream port, its downstream ports and what
# is below them), not only the function a reset was asked for. None of them
# may get an ATS invalidation until the bus is back, and each must work
# again afterwards.
#
#  1. reset_subordinate of BRIDGE under DMA load that reaches every ATS
#     function below it (the load maps for one function of each IOMMU group
#     below; every unmap invalidates the device-IOTLB of each ATS function
#     of that group):
#     each of them must answer, with ATS enabled, after every reset. Under
#     QEMU the host oracle judges every function below: no device-IOTLB
#     invalidation inside a bus-reset window, and invalidations again after
#     the last one.
#  2. Negative control: secondary bus resets of BRIDGE that bypass the PCI
#     core's reset paths (test_iommu_reset_ctl's raw_sbr), under the same
#     load: the oracle must see invalidations inside the windows of every
#     ATS function below, the deepest included.
#
# Usage: reset_bus.sh BRIDGE...   (or IOMMU_RESET_BRIDGE="BRIDGE...")
# IOMMU_RESET_NR_SBR_BELOW (default 5) bus resets and IOMMU_RESET_NR_RAW_SBR
# (2) raw ones per bridge.
# Each bridge runs both cases (oracle phases 40 and 41 for the first, 43
# and 44 for the second, ...). Needs, per bridge: reset_subordinate and,
# below it, at least two ATS-capable functions (of at most 8 IOMMU groups),
# with no driver bound (its cases SKIP otherwise); the test_iommu_reset_load
# and test_iommu_reset_ctl modules.

DIR=$(dirname "$0")
# shellcheck source=iommu_reset_lib.sh
. "$DIR/iommu_reset_lib.sh"

NR_SBR=${IOMMU_RESET_NR_SBR_BELOW:-5}
NR_RAW_SBR=${IOMMU_RESET_NR_RAW_SBR:-2}

ktap_print_header
[ $# -gt 0 ] || set -- ${IOMMU_RESET_BRIDGE:-}
[ $# -gt 0 ] || reset_skip "no bridge: pass BDFs or set IOMMU_RESET_BRIDGE"
[ -d "$DEBUGFS" ] || reset_skip "debugfs not mounted"
reset_load_module test_iommu_reset_ctl 2>/dev/null || reset_skip "cannot load test_iommu_reset_ctl"
bridges=$*
ktap_set_plan $((2 * $#))

# answering: how many ATS functions below answer with ATS enabled (their
# ATS capabilities were found before the load started: two config reads
# per function here).
answering() {
	n=0
	for a in $ats_at; do
		f=${a%=*} ctl=$((${a#*=} + 6))
		[ "$(cfg_read "$f" 0 2)" != 65535 ] &&
			[ $(( $(cfg_read "$f" $ctl 2) & 0x8000 )) -ne 0 ] && n=$((n + 1))
	done
	echo $n
}

# resets N NAME COMMAND: N bus resets of the bridge under the load, each by
# COMMAND; NAME passes when every one succeeded, every ATS function below
# answered with ATS enabled after each, and the load kept running.
resets() {
	nr=$1 name=$2 cmd=$3
	ops0=$(ops)
	fail=0 bad=0 i=0
	while [ $i -lt "$nr" ]; do
		$cmd || fail=$((fail + 1))
		[ "$(answering)" -eq "$nr_ats" ] || bad=$((bad + 1))
		i=$((i + 1))
	done
	n=$(($(ops) - ops0))
	ktap_print_msg "$name: $nr, errors $fail, resets after which a function below" \
		"did not answer with ATS enabled: $bad, load ops $n"
	if [ $fail -eq 0 ] && [ $bad -eq 0 ] && [ $n -gt 0 ]; then
		ktap_test_pass "$name under DMA load"
	else
		ktap_test_fail "$name under DMA load"
	fi
}

reset_subordinate() { echo 1 2>/dev/null > "$SYSFS_PCI/$bridge/reset_subordinate"; }
raw_sbr() { reset_ctl raw_sbr "$bridge"; }

# skip_bridge WHY: both cases of this bridge SKIP.
skip_bridge() {
	ktap_test_skip "reset_subordinate on $bridge: $*"
	ktap_test_skip "raw secondary bus reset of $bridge: $*"
}

# below_bridge: every function below the bridge, at any depth, top down
# (below); the functions with ATS among them (ats_fns, nr_ats) and where
# their ATS capability is (ats_at: BDF=OFFSET ...); those with a driver
# (bound); their IOMMU groups, and one ATS function of each, which the load
# maps for (groups, load_fns).
below_bridge() {
	below=$(find "$(readlink -f "$SYSFS_PCI/$bridge")" -mindepth 1 -type d \
		-name '????:??:??.?' | sed 's|.*/||' | sort)
	ats_fns="" ats_at="" bound="" groups="" load_fns="" nr_ats=0
	for f in $below; do
		case $(cat "$SYSFS_PCI/$f/class") in
		0x0604*) continue ;;
		esac
		[ -e "$SYSFS_PCI/$f/driver" ] && bound="$bound $f"
		off=$(reset_ats_cap "$f")
		[ "$off" -ne 0 ] || continue
		ats_fns="$ats_fns $f"
		ats_at="$ats_at $f=$off"
		nr_ats=$((nr_ats + 1))
		g=$(basename "$(readlink "$SYSFS_PCI/$f/iommu_group" 2>/dev/null)")
		case " $groups " in
		*" $g "*) ;;
		*) groups="$groups $g" load_fns="$load_fns${load_fns:+,}$f" ;;
		esac
	done
}

phase=40
for b in $bridges; do
	bridge=$(reset_norm_bdf "$b")
	p1=$phase p2=$((phase + 1))
	phase=$((phase + 3))
	if [ -z "$bridge" ] || [ ! -e "$SYSFS_PCI/$bridge" ]; then
		bridge=$b
		skip_bridge "no PCI function $b"
		continue
	fi
	if [ ! -e "$SYSFS_PCI/$bridge/reset_subordinate" ]; then
		skip_bridge "no reset_subordinate attribute (not a bridge?)"
		continue
	fi
	below_bridge
	if [ "$nr_ats" -lt 2 ]; then
		skip_bridge "fewer than two ATS-capable functions below it: no siblings to judge"
		continue
	fi
	if [ -n "$bound" ]; then
		skip_bridge "functions below it have drivers:$bound; unbind them first"
		continue
	fi
	# shellcheck disable=SC2086
	set -- $groups
	if [ $# -gt 8 ]; then
		skip_bridge "the ATS functions below it are in $# IOMMU groups (8 at most)"
		continue
	fi
	# shellcheck disable=SC2086
	ktap_print_msg "below $bridge:" $below "(ATS:$ats_fns; load on $load_fns)"
	# The oracle judges the ATS functions: no other function can be sent
	# an ATS invalidation (and under emulation each description costs a
	# boot seconds).
	for f in $ats_fns; do
		oracle_describe "$f"
	done
	if ! reset_load_module test_iommu_reset_load bdf="$load_fns" threads=1 2>/dev/null; then
		skip_bridge "cannot load test_iommu_reset_load"
		continue
	fi

	# 1: every function below stays fenced for the whole reset, and works
	# again after it.
	oracle_phase $p1
	for f in $ats_fns; do
		oracle_expect bus-siblings "$f" clean gap=bus-reset-unhooked
	done
	resets "$NR_SBR" "reset_subordinate x$NR_SBR on $bridge, $nr_ats ATS functions below" \
		reset_subordinate

	# 2: the negative control.
	oracle_phase $p2
	for f in $ats_fns; do
		oracle_expect bus-siblings-raw "$f" violation
	done
	resets "$NR_RAW_SBR" \
		"raw secondary bus reset x$NR_RAW_SBR of $bridge (IOMMU not blocked)" raw_sbr
	oracle_phase $((p2 + 1))
	rmmod test_iommu_reset_load
done

rmmod test_iommu_reset_ctl
ktap_finished
