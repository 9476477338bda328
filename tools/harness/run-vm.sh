#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run-vm.sh VARIANT PLAN [legacy|scalable|pasid|amd]
#
# Boot a built variant under QEMU (TCG) with an emulated IOMMU that supports
# device-IOTLBs (Intel VT-d in legacy or scalable mode, or AMD-Vi; or, in
# mode pasid, VT-d in scalable mode with PASIDs and no device-IOTLB), run the
# test plan inside, and keep the serial logs and QEMU's own trace (the
# oracle's input) in $OUT_ROOT/runs/<name>/:
#   console.log  the kernel log (first serial port, the console)
#   tests.log    the guest's test channel (second serial port): KTAP, oracle
#                markers and verdicts, never cut by a kernel message
#   host-requests.log, host-agent.log  the tests' requests to the emulator
#                (third serial port) and what host_agent.py did with them
#   trace.log    QEMU's trace
#
# Topology:
#   rp1 (00:02.0) -> 01:00.0 + 01:00.1  two-function ATS slot, one group
#   rp2 (00:03.0) -> 02:00.0            single ATS function, own group, AER
#   rp6 (00:06.0) -> a switch: upstream port 03:00.0, downstream ports
#                    04:00.0 and 04:01.0 (with ACS), each with one ATS
#                    function in a group of its own, 05:00.0 and 06:00.0: a
#                    bus reset of rp6 resets functions two bridges down
# With VM_GROUPS=1 (make bench, legacy and scalable only), two more groups:
#   rp3 (00:04.0) -> 03:00.0-03:00.3  four-function ATS slot, one group
#   rp4 (00:05.0) -> 04:00.0-04:00.7  eight-function ATS slot, one group
# (the switch's buses then follow from 05)
# With AMD-Vi (whose own PCI function sits at 00:02.0; the root ports move
# to 00:04.0 and 00:05.0), whose trace does not say which function an
# invalidation is for, only 02:00.0 has ATS (the oracle attributes every
# device-IOTLB invalidation to it); the tests that need ATS on 01:00.x or
# below the switch skip there.
# Exit status: 0 when the guest finished its plan with rc=0.

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

variant=${1:?usage: run-vm.sh VARIANT PLAN [legacy|scalable|pasid|amd]}
plan=${2:?usage: run-vm.sh VARIANT PLAN [legacy|scalable|pasid|amd]}
mode=${3:-legacy}
[ -x "$HARNESS_DIR/guest/plans/$plan" ] || die "unknown plan '$plan' (see tools/harness/guest/plans/)"
kernel=$(obj_dir "$variant")/arch/x86/boot/bzImage
initrd=$OUT_ROOT/initramfs-$variant.cpio.gz
[ -f "$kernel" ] || die "no kernel for $variant: run 'make build'"
[ -f "$initrd" ] || die "no initramfs for $variant: run 'make initramfs'"

ats="ats=on,iommu_platform=on,disable-legacy=on"
ats01=$ats
rp1addr=2.0 rp2addr=3.0
case $mode in
legacy)
	iommu=intel-iommu,intremap=on,device-iotlb=on
	append="intel_iommu=on" ;;
scalable)
	iommu=intel-iommu,intremap=on,device-iotlb=on,x-scalable-mode=on
	append="intel_iommu=on" ;;
pasid)
	# Scalable mode with PASIDs, for the PASID cases of reset_group.sh (plan
	# "pasid"). QEMU 10.0 refuses PASIDs with device-iotlb=on ("PASID based
	# device IOTLB is not supported"), so this IOMMU sends no device-IOTLB
	# invalidation: no oracle here, only the guest's own verdicts.
	qemu-system-x86_64 -device intel-iommu,help 2>/dev/null | grep -q x-pasid-mode ||
		die "mode pasid needs an intel-iommu with x-pasid-mode (QEMU >= 7.2); this is $(qemu_version)"
	iommu=intel-iommu,intremap=on,x-scalable-mode=on,x-pasid-mode=on
	append="intel_iommu=on" ;;
amd)
	# Translation on: pt=off up to 10.1, dma-remap=on from 10.2 (where pt=off
	# alone no longer turns it on); before 9.2 emulated devices bypass it.
	qv=$(qemu_version)
	ver_ge "$qv" 9.2 || die "AMD-Vi cells need QEMU >= 9.2 (amd-iommu pt=off); this is $qv"
	if ver_ge "$qv" 10.2; then
		iommu=amd-iommu,intremap=on,device-iotlb=on,dma-remap=on
	else
		iommu=amd-iommu,intremap=on,device-iotlb=on,pt=off
	fi
	append="iommu.passthrough=0"
	ats01="ats=off,iommu_platform=on,disable-legacy=on"
	# The AMD-Vi model has a PCI function of its own, which takes the first
	# free slot (2): the root ports move up, their buses stay 01 and 02.
	rp1addr=4.0 rp2addr=5.0 ;;
*) die "unknown IOMMU mode '$mode' (legacy, scalable, pasid or amd)" ;;
esac

run=$OUT_ROOT/runs/$variant-$mode-$plan
rm -rf "$run"
mkdir -p "$run"
timeout=${VM_TIMEOUT:-900}
# The guest tests report the known gaps of the 7.3 baseline as XFAIL.
baseline=
[ "$variant" = upstream ] && baseline=iommu_reset.baseline=1

# One host thread for all vCPUs (QEMU_ACCEL overrides it). With a thread per
# vCPU, QEMU (7.2 and 10.0.2 alike) loses or misroutes MMIO stores: when one
# vCPU's config write changes the memory map (the FLR path's command-register
# write turning a BAR off), the other vCPU's store to a VT-d register can
# land in another region ("-d invalid_mem": "Invalid write at addr 0x88, size
# 4, region 'pc.bios'": the invalidation queue tail), and the guest then waits
# in qi_submit_sync() with interrupts off for a descriptor QEMU never saw
# (hang-state.txt of such a boot, README). An emulator bug; the guest keeps
# two CPUs either way, so resets and DMA load still run concurrently in it.
accel=${QEMU_ACCEL:-tcg,thread=single}
# Root ports at 5 GT/s: Linux then waits for the functions below a secondary
# bus reset by polling them, as on real ports of that speed. At QEMU's
# default 16 GT/s it first waits for Data Link Layer Link Active, which
# QEMU's ports do not report after a bus reset, and every bus reset fails
# ("Data Link Layer Link Active not set in 100 msec") although the functions
# come back: a failed bus reset that would quarantine them.
rp="pcie-root-port,bus=pcie.0,x-speed=5"
# QEMU_EXTRA="ARGS": more emulator arguments, for experiments (e.g. extra
# -trace events or -d invalid_mem), split at spaces.
# QEMU_ICOUNT=OPTIONS (make bench): the guest's clock counts the
# instructions it executes (-icount; shift=0 is one nanosecond each), so
# that times measured in the guest are amounts of work, free of the host's
# speed and of the emulator's own costs (device models, translation).
icount=()
[ -z "${QEMU_ICOUNT:-}" ] || icount=(-icount "$QEMU_ICOUNT")

# Multifunction slots of 4 and 8 ATS functions for the group-size bench.
groups=()
if [ "${VM_GROUPS:-0}" = 1 ]; then
	[ "$mode" != amd ] || die "VM_GROUPS=1 needs the VT-d topology (legacy or scalable)"
	for slot in 3:4 4:8; do
		bus=${slot%:*} nfn=${slot#*:}
		groups+=(-device "$rp,id=rp$bus,chassis=$bus,addr=$((bus + 1)).0")
		for fn in $(seq 0 $((nfn - 1))); do
			mf=
			[ "$fn" = 0 ] && mf=multifunction=on,
			groups+=(-device "virtio-rng-pci,bus=rp$bus,addr=0.$fn,$mf$ats")
		done
	done
fi

# The monitor's socket lives in a directory of its own in $TMPDIR: a path
# in the run directory could exceed the 107 bytes of a socket address.
mon_dir=$(mktemp -d -t iommu-reset-mon.XXXXXX)
mon=$mon_dir/sock
t0=$(date +%s)
set +e
timeout -k 10 "$timeout" qemu-system-x86_64 \
	-accel "$accel" "${icount[@]}" -M q35 -cpu max -m 1G -smp 2 -nographic -no-reboot -nic none \
	-device "$iommu" \
	-device "$rp,id=rp1,chassis=1,addr=$rp1addr" \
	-device "virtio-rng-pci,bus=rp1,addr=0.0,multifunction=on,$ats01" \
	-device "virtio-rng-pci,bus=rp1,addr=0.1,$ats01" \
	-device "$rp,id=rp2,chassis=2,addr=$rp2addr" \
	-device "virtio-rng-pci,bus=rp2,addr=0.0,$ats,aer=on,id=fn2" \
	-device "$rp,id=rp6,chassis=6,addr=6.0" \
	-device x3130-upstream,bus=rp6,id=up6 \
	-device xio3130-downstream,bus=up6,addr=0.0,id=dn7,chassis=7,slot=0,hotplug=off \
	-device "virtio-rng-pci,bus=dn7,addr=0.0,$ats01" \
	-device xio3130-downstream,bus=up6,addr=1.0,id=dn8,chassis=8,slot=0,hotplug=off \
	-device "virtio-rng-pci,bus=dn8,addr=0.0,$ats01" \
	"${groups[@]}" ${QEMU_EXTRA:-} \
	-kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 $append iommu.strict=1 panic=-1 plan=$plan $baseline ${VM_APPEND:-}" \
	-msg timestamp=on -trace vtd_inv_desc -trace amdvi_iotlb_inval -trace pci_cfg_write \
	-D "$run/trace.log" \
	-serial "file:$run/console.log" -serial "file:$run/tests.log" \
	-serial "file:$run/host-requests.log" \
	-monitor "unix:$mon,server=on,wait=off" -display none \
	</dev/null >"$run/qemu.log" 2>&1 &
qpid=$!
# The guest's requests to the emulator (third serial port), answered
# through the monitor.
python3 "$HARNESS_DIR/host_agent.py" "$run/host-requests.log" "$mon" $qpid \
	0000:02:00.0=fn2 > "$run/host-agent.log" 2>&1 &
apid=$!
trap 'kill $qpid $apid 2>/dev/null' INT TERM
# hang_dump: what the hung guest was doing (VT-d: its vCPUs and the
# invalidation queue), read through the monitor, in hang-state.txt.
hang_dump() {
	[ "$mode" != amd ] || return 0
	python3 "$HARNESS_DIR/hang_dump.py" "$mon" "$(obj_dir "$variant")/System.map" \
		> "$run/hang-state.txt" 2>&1 || true
	sed 's/^/  /' "$run/hang-state.txt"
}
# Progress: the guest's last KTAP result, every 30 s.
while kill -0 $qpid 2>/dev/null; do
	for _ in $(seq 30); do
		sleep 1
		kill -0 $qpid 2>/dev/null || break 2
	done
	last=$(grep -aE '^(# )*(ok|not ok) ' "$run/tests.log" 2>/dev/null | tail -n1 | cut -c1-70)
	# A guest spinning with interrupts off on both CPUs prints nothing at all:
	# QEMU's trace (which grows with every config write and invalidation)
	# standing still for STALL_S seconds is the sign.
	size=$(stat -c %s "$run/trace.log" 2>/dev/null || echo 0)
	if [ "$size" != "${last_size:-}" ]; then
		last_size=$size last_change=$(date +%s)
	elif [ $(( $(date +%s) - last_change )) -ge "${STALL_S:-150}" ]; then
		msg "vm[$variant/$mode/$plan]: no trace, console or test output for ${STALL_S:-150}s"
		hung=1
		hang_dump
		kill $qpid 2>/dev/null
		break
	fi
	printf 'vm[%s/%s/%s]: %4ds %s\n' "$variant" "$mode" "$plan" $(( $(date +%s) - t0 )) "$last"
	# A store to the invalidation queue's tail that QEMU lost (see above)
	# leaves the guest spinning in qi_submit_sync() until RCU reports a
	# stall: an emulator hang, not a test result: stop early and say so.
	if grep -aq 'rcu_sched detected stalls' "$run/console.log" 2>/dev/null &&
		grep -aq 'RIP: [0-9a-f]*:qi_submit_sync' "$run/console.log"; then
		hung=1
		hang_dump
		kill $qpid 2>/dev/null
		break
	fi
done
wait $qpid
qrc=$?
wait $apid
rm -rf "$mon_dir"
set -e
secs=$(( $(date +%s) - t0 ))
echo "$secs" > "$run/seconds"

grc=$(sed -n 's/^=== guest: done rc=\([0-9]*\)$/\1/p' "$run/tests.log" | tail -n1)
if [ "${hung:-0}" = 1 ]; then
	msg "vm[$variant/$mode/$plan]: the guest hung (stuck in qi_submit_sync, or no progress at all) after ${secs}s"
	exit 75
fi
if [ $qrc = 124 ] || [ $qrc = 137 ]; then
	msg "vm[$variant/$mode/$plan]: timed out after ${timeout}s (log: $run/console.log)"
	tail -5 "$run/console.log"
	exit 1
fi
if [ -z "$grc" ]; then
	msg "vm[$variant/$mode/$plan]: guest did not finish (qemu rc=$qrc; logs: $run/console.log, $run/tests.log)"
	grep -E 'Kernel panic|BUG:|Oops' "$run/console.log" | head -5 || tail -5 "$run/console.log"
	exit 1
fi
msg "vm[$variant/$mode/$plan]: guest rc=$grc in ${secs}s"
[ "$grc" = 0 ]
