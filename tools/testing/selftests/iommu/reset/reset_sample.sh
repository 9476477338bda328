#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# IOMMU reset tests driven by the Rust sample driver rust_dma_reset: its own
# reset loop under DMA load, a multifunction group with a sibling under load,
# its FLR-only and bus-reset methods, the streaming DMA API's error paths
# (check_dma), bad control input, start while running, unbind during a run,
# and its raw FLR negative control (loaded with allow_raw_flr=1; refused
# without).
#
# Usage: reset_sample.sh BDF [SIBLING_BDF]
#   (or IOMMU_RESET_BDF / IOMMU_RESET_SIBLING_BDF)
# Needs: the rust_dma_reset module, an ATS-capable function with FLR and no
# driver bound; SIBLING is another function of the same IOMMU group (for the
# multifunction case, skipped without one).

DIR=$(dirname "$0")
# shellcheck source=iommu_reset_lib.sh
. "$DIR/iommu_reset_lib.sh"

NR_RESETS=${IOMMU_RESET_NR:-200}
# Resets of the function while its sibling keeps DMA (case 9), and with
# reset_method set to flr (case 10)
NR_SIBLING=${IOMMU_RESET_NR_SIBLING:-50}
NR_METHOD=${IOMMU_RESET_NR_METHOD:-20}
WAIT_S=${IOMMU_RESET_WAIT_S:-600}
DRV=rust_dma_reset

ktap_print_header
bdf=$(reset_norm_bdf "${1:-${IOMMU_RESET_BDF:-}}")
sib=$(reset_norm_bdf "${2:-${IOMMU_RESET_SIBLING_BDF:-}}")
reset_require_function "$bdf"
[ -d /sys/bus/pci/drivers/$DRV ] || reset_load_module $DRV 2>/dev/null ||
	reset_skip "no $DRV module (CONFIG_SAMPLE_RUST_DMA_RESET)"

ktap_set_plan 12

ctl() { echo "$2" > "$DEBUGFS/$DRV-$1/control" 2>/dev/null; }
stat() { sed -n "s/^$2 //p" "$DEBUGFS/$DRV-$1/stats"; }
wait_idle() {
	t=0
	while [ "$(stat "$1" state)" != idle ] && [ $t -lt $((WAIT_S * 10)) ]; do
		sleep 0.1
		t=$((t + 1))
	done
	[ "$(stat "$1" state)" = idle ]
}

oracle_describe "$bdf"
[ -n "$sib" ] && oracle_describe "$sib"

# 1: binding by driver_override only.
if reset_bind $DRV "$bdf"; then
	ktap_test_pass "bind $DRV to $bdf by driver_override"
else
	ktap_test_fail "bind $DRV to $bdf by driver_override"
	ktap_exit_fail_msg "cannot bind $DRV"
fi

# 2: bad input is refused and changes nothing.
before=$(cat "$DEBUGFS/$DRV-$bdf/stats")
bad=0
for cmd in "" "go" "stop now" "start workers" "start workers=-1" "start workers=17" \
	"start resets=1000001" "start interval_ms=10001" "start method=pm" \
	"start method=flr" "start method=FLR" \
	"start workers=0 resets=0" "start workers=0x2" "check_dma now" \
	"$(printf 'start %0200d' 0)"; do
	if ctl "$bdf" "$cmd"; then
		ktap_print_msg "accepted bad command '$cmd'"
		bad=$((bad + 1))
	fi
done
after=$(cat "$DEBUGFS/$DRV-$bdf/stats")
if [ $bad -eq 0 ] && [ "$before" = "$after" ]; then
	ktap_test_pass "bad control input refused without side effects"
else
	ktap_test_fail "bad control input refused without side effects ($bad accepted)"
fi

# 3: the raw FLR negative control is refused unless the module was loaded
# with allow_raw_flr=1.
if [ "$(stat "$bdf" raw_flr_allowed)" = 0 ]; then
	before=$(cat "$DEBUGFS/$DRV-$bdf/stats")
	msg=$(echo raw_flr 2>&1 > "$DEBUGFS/$DRV-$bdf/control")
	after=$(cat "$DEBUGFS/$DRV-$bdf/stats")
	case $msg in
	*ermitted*) [ "$before" = "$after" ] &&
		ktap_test_pass "raw_flr refused without allow_raw_flr=1" ||
		ktap_test_fail "raw_flr refused without allow_raw_flr=1 (stats changed)" ;;
	*) ktap_test_fail "raw_flr without allow_raw_flr=1: '$msg'" ;;
	esac
else
	ktap_test_skip "raw_flr refused without allow_raw_flr=1 (module loaded with it)"
fi

# 4: the streaming DMA API's error paths on the bound function (the
# sample's check_dma: a mapping without a direction refused with its page
# given back, the page of a mapping returned by unmap, the same for a
# Devres-held mapping).
if ctl "$bdf" check_dma; then
	ktap_test_pass "streaming DMA error paths (check_dma)"
else
	ktap_test_fail "streaming DMA error paths (check_dma; see the kernel log)"
fi

# 5: the sample's reset loop under load.
oracle_phase 10
oracle_expect sample-reset-loop "$bdf" clean
ok=1
ctl "$bdf" "start workers=2 resets=$NR_RESETS interval_ms=0" || ok=0
wait_idle "$bdf" || ok=0
r_ok=$(stat "$bdf" resets_ok)
r_bad=$(stat "$bdf" resets_failed)
ops=$(stat "$bdf" map_ops)
errs=$(stat "$bdf" map_errors)
lat=$(stat "$bdf" latency_us)
ktap_print_msg "sample: resets ok $r_ok failed $r_bad, load ops $ops errors $errs, $lat"
echo "# sample-stats bdf=$bdf resets=$r_ok failed=$r_bad ops=$ops errors=$errs" \
	"latency_us=$(echo "$lat" | tr ' ' ,)"
if [ $ok = 1 ] && [ "$r_ok" = "$NR_RESETS" ] && [ "$r_bad" = 0 ] &&
	[ "${ops:-0}" -gt 0 ] && [ "$errs" = 0 ]; then
	ktap_test_pass "sample: $NR_RESETS resets under DMA load"
else
	ktap_test_fail "sample: $NR_RESETS resets under DMA load"
fi
# 6: a second start while a run is active is refused with EBUSY.
ctl "$bdf" "start workers=1 resets=0"
msg=$(echo "start workers=1 resets=1" 2>&1 > "$DEBUGFS/$DRV-$bdf/control")
running=$(stat "$bdf" state)
ctl "$bdf" "stop"
case $msg in
*busy*|*Busy*) [ "$running" = running ] && ktap_test_pass "start while running: EBUSY" ||
	ktap_test_fail "start while running: not running ($running)" ;;
*) ktap_test_fail "start while running: '$msg'" ;;
esac

# 7: unbind during a run stops it cleanly; the device can be bound again.
ctl "$bdf" "start workers=4 resets=100000 interval_ms=0"
sleep 1
reset_unbind "$bdf"
if [ ! -e "$SYSFS_PCI/$bdf/driver" ] && [ ! -d "$DEBUGFS/$DRV-$bdf" ] && reset_bind $DRV "$bdf" &&
	[ "$(stat "$bdf" state)" = idle ]; then
	ktap_test_pass "unbind during a run, then rebind"
else
	ktap_test_fail "unbind during a run, then rebind"
fi

# 8: resets racing with binding and unbinding the sample.
fail=0
( i=0; while [ $i -lt 20 ]; do echo 1 > "$SYSFS_PCI/$bdf/reset" 2>/dev/null; i=$((i + 1)); done ) &
pid=$!
i=0
while [ $i -lt 20 ]; do
	reset_unbind "$bdf"
	reset_bind $DRV "$bdf" || fail=$((fail + 1))
	i=$((i + 1))
done
wait $pid
[ $fail -eq 0 ] && ktap_test_pass "resets racing with unbind/rebind" ||
	ktap_test_fail "resets racing with unbind/rebind ($fail binds failed)"
# Phase 10 ends with those resets, without load: a short load after them,
# in the phase, shows the oracle the function re-attached and working.
ctl "$bdf" "start workers=2 resets=0"
sleep 0.5
ctl "$bdf" stop

# 9: multifunction: reset one function while its sibling in the same group
# keeps mapping and unmapping.
if [ -n "$sib" ] && [ -e "$SYSFS_PCI/$sib" ] &&
	reset_bind $DRV "$sib"; then
	oracle_phase 11
	oracle_expect sample-sibling "$bdf" clean
	ctl "$sib" "start workers=2 resets=0"
	ops0=$(stat "$sib" map_ops)
	ctl "$bdf" "start workers=1 resets=$NR_SIBLING interval_ms=0"
	wait_idle "$bdf"
	ops1=$(stat "$sib" map_ops)
	ctl "$sib" "stop"
	r_ok=$(stat "$bdf" resets_ok)
	ktap_print_msg "sibling $sib: $((ops1 - ops0)) load ops during $r_ok resets of $bdf"
	if [ "$r_ok" = "$NR_SIBLING" ] && [ $((ops1 - ops0)) -gt 0 ] &&
		[ "$(stat "$sib" map_errors)" = 0 ]; then
		ktap_test_pass "multifunction: sibling keeps DMA while $bdf is reset"
	else
		ktap_test_fail "multifunction: sibling keeps DMA while $bdf is reset"
	fi
	reset_unbind "$sib"
else
	ktap_test_skip "multifunction: no sibling function given"
fi

# 10: FLR only (reset_method set to flr, the PCI core's own path) and the
# sample's bus-reset method under load. A bus reset resets every function
# of the slot or bus, the sibling included, so the kernel crate refuses it
# (-EBUSY) unless the driver owns every one of them: the sample owns only
# its function, so its bus resets must be refused where the function has a
# neighbour on its bus, and succeed where it is alone.
oracle_phase 12
oracle_expect sample-methods "$bdf" clean
methods=$(cat "$SYSFS_PCI/$bdf/reset_method")
echo flr > "$SYSFS_PCI/$bdf/reset_method"
ctl "$bdf" "start workers=2 resets=$NR_METHOD interval_ms=0"
wait_idle "$bdf"
echo "$methods" > "$SYSFS_PCI/$bdf/reset_method"
f_ok=$(stat "$bdf" resets_ok)
f_bad=$(stat "$bdf" resets_failed)
ctl "$bdf" "start workers=2 resets=5 interval_ms=0 method=bus"
wait_idle "$bdf"
b_ok=$(stat "$bdf" resets_ok)
b_bad=$(stat "$bdf" resets_failed)
b_err=$(stat "$bdf" last_error)
alive=1
for f in $bdf $sib; do
	[ "$(cfg_read "$f" 0 2)" != 65535 ] || alive=0
done
# Functions on the bus of $bdf besides it.
neighbours=-1
for f in "$SYSFS_PCI/${bdf%:*}":*; do
	[ -e "$f" ] && neighbours=$((neighbours + 1))
done
ktap_print_msg "sample with reset_method=flr: ok $f_ok failed $f_bad; method=bus: ok $b_ok" \
	"failed $b_bad (last error $b_err), $neighbours other function(s) on the bus;" \
	"functions answering: $alive"
if [ $neighbours -gt 0 ]; then
	b_want="0 5 -16"
	b_what="bus reset refused (EBUSY): the other functions on the bus are not the sample's"
else
	b_want="5 0 0"
	b_what="bus reset"
fi
if [ "$f_ok" = "$NR_METHOD" ] && [ "$f_bad" = 0 ] && [ "$b_ok $b_bad $b_err" = "$b_want" ] &&
   [ $alive = 1 ]; then
	ktap_test_pass "sample: FLR only under DMA load; $b_what"
else
	ktap_test_fail "sample: FLR only under DMA load; $b_what"
fi
oracle_phase 13

# 11: rmmod during a run.
ctl "$bdf" "start workers=2 resets=100000 interval_ms=0"
sleep 0.5
if rmmod $DRV && [ ! -e "$SYSFS_PCI/$bdf/driver" ]; then
	ktap_test_pass "rmmod during a run"
else
	ktap_test_fail "rmmod during a run"
fi

# 12: negative control: raw FLRs by the sample under its own DMA load,
# bypassing the reset helpers. The host oracle must see invalidations reach
# the function while it is in reset, or it is blind.
if reset_load_module $DRV allow_raw_flr=1 2>/dev/null && reset_bind $DRV "$bdf"; then
	oracle_phase 14
	oracle_expect sample-raw-flr "$bdf" violation
	ctl "$bdf" "start workers=2 resets=0"
	fail=0
	i=0
	while [ $i -lt 5 ]; do
		ctl "$bdf" raw_flr || fail=$((fail + 1))
		sleep 0.05
		i=$((i + 1))
	done
	oracle_phase 15
	ctl "$bdf" stop
	raw=$(stat "$bdf" raw_flrs)
	ops=$(stat "$bdf" map_ops)
	ktap_print_msg "sample raw FLRs: $raw, failed $fail, load ops $ops"
	# On real hardware these may well time out invalidations: that is the point.
	RESET_KMSG_ALLOW=1
	if [ $fail -eq 0 ] && [ "$raw" = 5 ] && [ "${ops:-0}" -gt 0 ] &&
		[ "$(cfg_read "$bdf" 0 2)" != 65535 ]; then
		ktap_test_pass "sample raw_flr x5 (negative control) under DMA load"
	else
		ktap_test_fail "sample raw_flr x5 (negative control) under DMA load"
	fi
	RESET_KMSG_ALLOW=0
	reset_unbind "$bdf"
	rmmod $DRV
else
	ktap_test_fail "load $DRV with allow_raw_flr=1 and bind it"
fi
echo > "$SYSFS_PCI/$bdf/driver_override"
ktap_finished
