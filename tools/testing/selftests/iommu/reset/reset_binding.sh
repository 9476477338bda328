#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Run-time refusals of the kernel crate's pci::Binding, misused in safe code
# by a Rust test driver as a driver would (test_modules/
# test_iommu_reset_binding.rs; see its header):
#  1. case 0, devres order: at unbind, an object that devres drops after it
#     revoked a Devres registered later enters the binding. The binding is
#     closed before devres releases anything, so entering is refused: no
#     BoundRef, no read of the revoked Devres, no new binding made from
#     inside the unbinding;
#  2. the function probes again (no devres node was left behind), and a
#     Devres kept from the first binding is refused to the second one's
#     device (ENXIO);
#  3. case 1, composition: a work item on an OwnedQueue in the driver's data
#     runs until the binding closes; the unbind returns and the work item
#     ends (the binding closes before the driver's data, and with it the
#     queue, is dropped);
#  4. the module unloads, and the kernel log has no KASAN report, hung task
#     or other splat since the test began.
#
# Usage: reset_binding.sh BDF   (or IOMMU_RESET_BDF=BDF)
# Needs: the test_iommu_reset_binding module (a kernel with Rust), a function
# with no driver bound.

DIR=$(dirname "$0")
# shellcheck source=iommu_reset_lib.sh
. "$DIR/iommu_reset_lib.sh"

MOD=test_iommu_reset_binding
HUNG_S=10

ktap_print_header
bdf=$(reset_norm_bdf "${1:-${IOMMU_RESET_BDF:-}}")
reset_require_function "$bdf" unbound
reset_load_module $MOD case=0 2>/dev/null ||
	reset_skip "no $MOD module (a kernel without Rust or without pci::Binding)"

ktap_set_plan 4

hung_old=$(cat /proc/sys/kernel/hung_task_timeout_secs 2>/dev/null)
[ -n "$hung_old" ] && echo $HUNG_S > /proc/sys/kernel/hung_task_timeout_secs
log0=$(dmesg | wc -l)
# The test driver's lines since the test began.
said() { dmesg | tail -n +$((log0 + 1)) | sed -n "s/.*$MOD: //p"; }

# 1: devres order at unbind.
if reset_bind $MOD "$bdf"; then
	reset_unbind "$bdf"
	out=$(said | grep '^devres order')
	ktap_print_msg "$(echo "$out" | tr '\n' ';')"
	if [ "$out" = "devres order: enter: refused" ] && [ ! -e "$SYSFS_PCI/$bdf/driver" ]; then
		ktap_test_pass "binding closed before devres releases the driver's resources"
	else
		ktap_test_fail "binding closed before devres releases the driver's resources"
	fi
else
	ktap_test_fail "binding closed before devres releases the driver's resources (bind failed)"
fi

# 2: probe again; the first binding's Devres refused to the second.
if reset_bind $MOD "$bdf" && [ "$(said | grep -c '^probe: case 0')" = 2 ]; then
	out=$(said | grep '^stale devres')
	ktap_print_msg "$out"
	if [ "$out" = "stale devres: access: refused (-6)" ]; then
		ktap_test_pass "probes again; an earlier binding's Devres is refused (ENXIO)"
	else
		ktap_test_fail "probes again; an earlier binding's Devres is refused (ENXIO)"
	fi
else
	ktap_test_fail "probes again; an earlier binding's Devres is refused (bind failed)"
fi
reset_unbind "$bdf"

# 3: a binding worker on an owned queue in the driver's data.
rmmod $MOD
if reset_load_module $MOD case=1 && reset_bind $MOD "$bdf"; then
	sleep 0.2
	reset_unbind "$bdf" &
	pid=$!
	t=0
	while kill -0 $pid 2>/dev/null && [ $t -lt $((HUNG_S * 2 * 10)) ]; do
		sleep 0.1
		t=$((t + 1))
	done
	if kill -0 $pid 2>/dev/null; then
		ktap_test_fail "unbind with a binding worker on an owned queue: hangs"
	else
		out=$(said | grep '^compose')
		ktap_print_msg "$out"
		case $out in
		"compose: worker: ended after "*" rounds")
			ktap_test_pass "unbind with a binding worker on an owned queue" ;;
		*)	ktap_test_fail "unbind with a binding worker on an owned queue" ;;
		esac
	fi
else
	ktap_test_fail "unbind with a binding worker on an owned queue (bind failed)"
fi

# 4: unload; nothing in the kernel log.
if ! kill -0 "${pid:-0}" 2>/dev/null && rmmod $MOD &&
	! dmesg | tail -n +$((log0 + 1)) |
		grep -qE 'KASAN|BUG:|WARNING:|blocked for more than|Resources present'; then
	ktap_test_pass "module unloads; no KASAN report or splat"
else
	dmesg | tail -n +$((log0 + 1)) |
		grep -E -A3 'KASAN|BUG:|WARNING:|blocked for more|Resources present' |
		head -20 | sed 's/^/# /'
	ktap_test_fail "module unloads; no KASAN report or splat"
fi
[ -n "$hung_old" ] && echo "$hung_old" > /proc/sys/kernel/hung_task_timeout_secs
echo > "$SYSFS_PCI/$bdf/driver_override"
ktap_finished
