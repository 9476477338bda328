#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check: build both variants, run every test, print KTAP and a closing
# line "N passed, N failed, N skipped" plus the duration of each phase.

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=ktap.sh
. "$HARNESS_DIR/ktap.sh"

phases_start
# The cells whose first boot hung and that were booted again (vm_boot).
VM_RETRIED=()
# A run that starts without a build cache is a cold one (target: 45 min on
# two cores); later ones are warm (10 min).
COLD=0
[ -d "$CACHE_DIR/ccache" ] || COLD=1
vm_jobs > /dev/null

step() { # name command...: a setup step; failure ends the run
	local name=$1
	shift
	phase_begin "$name"
	if ! "$@"; then
		ktap_result fail "$name"
		finish
	fi
	phase_end
}

finish() {
	# A setup step failed while the lint gates ran beside the builds.
	[ -z "${lint_pid:-}" ] || wait "$lint_pid" || true
	# The tables first: a cell or a differential row without its evidence
	# is a failure of the check.
	local tables=$OUT_ROOT/results-tables.txt
	# required.txt: what must run in each cell (DESIGN.md section 5).
	# shellcheck disable=SC2086
	if python3 "$HARNESS_DIR/results.py" --lint="$OUT_ROOT/lint.log" --variants=upstream,ours-c,ours \
		--required="$HARNESS_DIR/required.txt" \
		"$OUT_ROOT/runs" full ${MODES:-legacy scalable pasid} > "$tables" 2>&1; then
		ktap_result ok "results: every cell and every differential row has its evidence, every required result arrived, C and Rust helpers agree"
	else
		ktap_result fail "results: every cell and every differential row has its evidence, every required result arrived, C and Rust helpers agree"
	fi
	echo
	ktap_summary
	echo
	phases_print
	budget_print "$COLD" 2700 600
	[ -f "$OUT_ROOT/oracle-summary.txt" ] &&
		echo "(per-phase oracle tables: above, after each boot, and in $OUT_ROOT/oracle-summary.txt)"
	echo
	cat "$tables"
	echo
	[ "$KTAP_XFAIL" = 0 ] || echo "($KTAP_XFAIL of the passed are XFAIL: known gaps of upstream 7.3, shown by the oracle)"
	echo "Boots retried after a hang: ${#VM_RETRIED[@]}${VM_RETRIED[*]:+ (${VM_RETRIED[*]}: failures above)}"
	echo "$((KTAP_PASS + KTAP_XFAIL)) passed, $KTAP_FAIL failed, $KTAP_SKIP skipped"
	[ "$KTAP_FAIL" = 0 ]
	exit $?
}

# vm_boot VARIANT PLAN MODE: boot one cell and run the trace oracle on it.
# It prints nothing to the KTAP stream: vm_import reports the cell, so that
# cells booted side by side still report in the matrix's order. Its exit
# code and its duration go to $run.rc and $run.secs.
vm_boot() {
	local variant=$1 plan=$2 mode=$3 run rc=0 t0
	local label=$variant/$mode/$plan
	run=$OUT_ROOT/runs/$variant-$mode-$plan
	t0=$(date +%s)
	rm -f "$run.rc" "$run.secs" "$run.hung-once"
	"$HARNESS_DIR/run-vm.sh" "$variant" "$plan" "$mode" || rc=$?
	if [ $rc = 75 ]; then
		# An emulator hang (see run-vm.sh): boot once more, and say so; the
		# hung boot stays a failure (vm_import) whatever the second one does.
		echo "# $label: the emulated guest hung (see run-vm.sh); booting once more"
		rm -rf "$run.hung"
		mv "$run" "$run.hung"
		touch "$run.hung-once"
		rc=0
		"$HARNESS_DIR/run-vm.sh" "$variant" "$plan" "$mode" || rc=$?
	fi
	if [ -s "$run/trace.log" ]; then
		oracle_run "$variant" "$mode" "$run" "$label" || true
		# Traces are hundreds of MB: keep them only when something failed.
		if [ "${KEEP_TRACES:-0}" != 1 ] && ! grep -q '^FAIL' "$run/oracle.txt"; then
			rm -f "$run/trace.log"
		fi
	fi
	echo $(( $(date +%s) - t0 )) > "$run.secs"
	echo "$rc" > "$run.rc"
}

# console_scan VARIANT LABEL CONSOLE [--hung]: the host's scan of one boot's
# complete kernel console for splats and hangs (tools/oracle/console_scan.py;
# the guest's own scan sees only its last 128 KiB), a result of its own;
# with --hung (run-vm.sh stopped the boot), first a failure with its tail.
console_scan() {
	local variant=$1 label=$2 file=$3 flags=()
	shift 3
	[ "$variant" = upstream ] && flags+=(--baseline)
	ktap_results < <(python3 "$REPO_DIR/tools/oracle/console_scan.py" "${flags[@]}" "$@" \
		"$label" "$file")
}

# vm_import VARIANT PLAN MODE: the KTAP results of a cell vm_boot booted.
vm_import() {
	local variant=$1 plan=$2 mode=$3 run rc hung=()
	local label=$variant/$mode/$plan
	run=$OUT_ROOT/runs/$variant-$mode-$plan
	rc=$(cat "$run.rc" 2>/dev/null || echo none)
	printf '  cell %-22s %4ss%s\n' "$label" "$(cat "$run.secs" 2>/dev/null || echo '?')" \
		"$([ -e "$run.hung-once" ] && echo ' (booted twice: emulator hang)')" >> "$(ts_file)"
	# A boot that hung is a failure, even when the second one passes.
	if [ -e "$run.hung-once" ]; then
		VM_RETRIED+=("$label")
		console_scan "$variant" "$label (boot 1 of 2)" "$run.hung/console.log" --hung
	fi
	if [ "$rc" = 0 ]; then
		ktap_result ok "$label: guest finished cleanly"
	else
		ktap_result fail "$label: guest finished cleanly"
	fi
	[ "$rc" = 75 ] && hung=(--hung)
	console_scan "$variant" "$label" "$run/console.log" "${hung[@]}"
	ktap_import "$label" "$run/tests.log"
	[ -f "$run/console.log" ] && kunit_import "$label" "$run/console.log"
	# What must run (required.txt): every selftest, KUnit suite and oracle
	# verdict the cell must produce arrived, and no SKIP the list does not
	# allow (tools/harness/required.py).
	ktap_results < <(python3 "$HARNESS_DIR/required.py" "$variant" "$mode" "$plan" "$run" "$label")
	if [ -s "$run/oracle.txt" ]; then
		{ echo "oracle $label:"; grep -v '^ORACLE-JSON\|^PASS\|^FAIL' "$run/oracle.txt"; } |
			tee -a "$OUT_ROOT/oracle-summary.txt"
		while IFS= read -r line; do
			case $line in
			PASS:*) ktap_result ok "$label: ${line#PASS: }" ;;
			FAIL:*) ktap_result fail "$label: ${line#FAIL: }" ;;
			XFAIL:*) ktap_result xfail "$label: ${line#XFAIL: }" ;;
			SKIP:*) ktap_result skip "$label: ${line#SKIP: }" ;;
			esac
		done < "$run/oracle.txt"
		grep -q '^PASS\|^FAIL\|^XFAIL' "$run/oracle.txt" ||
			ktap_result fail "$label: oracle produced no verdict ($(tail -1 "$run/oracle.txt"))"
	else
		ktap_result fail "$label: QEMU trace is empty"
	fi
}

# vm_cells PLAN VARIANT/MODE[:PLAN]...: boot the cells, vm_jobs at a time,
# in the order given, then report them in that order. A cell runs PLAN
# unless it names a plan of its own.
vm_cells() {
	local plan=$1 cell jobs
	shift
	jobs=$(vm_jobs)
	CELL_PLAN=$plan
	phase_begin "vm boots ($# cells, $jobs at a time)"
	pool_run "$jobs" vm_boot_cell "$@"
	phase_end
	for cell in "$@"; do
		# shellcheck disable=SC2046
		vm_import $(cell_args "$cell")
	done
}
# cell_args VARIANT/MODE[:PLAN]: "VARIANT PLAN MODE".
cell_args() {
	local mode=${1#*/} plan=$CELL_PLAN
	case $mode in *:*) plan=${mode#*:} mode=${mode%%:*} ;; esac
	echo "${1%%/*} $plan $mode"
}
# shellcheck disable=SC2046
vm_boot_cell() { vm_boot $(cell_args "$1"); }

: > "$OUT_ROOT/oracle-summary.txt"
step deps "$HARNESS_DIR/deps.sh"
step fetch "$HARNESS_DIR/fetch-base.sh"
step prepare "$HARNESS_DIR/prepare.sh"
step "build upstream" "$HARNESS_DIR/build.sh" upstream
step "build ours" "$HARNESS_DIR/build.sh" ours
# The lint gates need ours only: they run beside the builds that follow,
# whose single-threaded stretches (rustc of the kernel crate, the links)
# leave a core idle. The phase list gives their own time; the "lint" phase
# is the wait for them after the builds.
# They run in a session of their own, which an interrupted check ends.
# shellcheck disable=SC2016
setsid bash -c 't0=$(date +%s); "$1" > "$2" 2>&1; echo $(( $(date +%s) - t0 )) > "$3"' \
	lint "$HARNESS_DIR/lint.sh" "$OUT_ROOT/lint.log" "$OUT_ROOT/lint.secs" &
lint_pid=$!
trap '[ -z "${lint_pid:-}" ] || kill -- -"$lint_pid" 2>/dev/null' EXIT
trap 'exit 130' INT TERM
step "build ours-c" "$HARNESS_DIR/build.sh" ours-c
# A build gate: the kernel crate and the Rust sample without the IOMMU API
# and ATS (rust/ and samples/rust/ only; make bisect builds it whole).
step "build ours-noiommu (gate)" "$HARNESS_DIR/build.sh" ours-noiommu rust/ samples/rust/
ktap_result ok "build: upstream (C helpers), ours (Rust helpers), ours-c (C helpers, patched tree), all with KASAN; ours-noiommu (kernel crate and sample, IOMMU_API=n, PCI_ATS=n)"
# The lint gates read the ours build tree, which modules.sh builds on.
phase_begin "lint"
wait "$lint_pid" || true
lint_pid=
while IFS= read -r line; do
	case $line in
	"ok "*) ktap_result ok "lint: ${line#ok }" ;;
	"not ok "*) ktap_result fail "lint: ${line#not ok }" ;;
	esac
done < "$OUT_ROOT/lint.log"
grep -v '^ok \|^not ok ' "$OUT_ROOT/lint.log" | head -40 || true
phase_end
printf '  lint gates, beside the builds %4ss\n' "$(cat "$OUT_ROOT/lint.secs" 2>/dev/null || echo '?')" >> "$(ts_file)"

for v in upstream ours ours-c; do
	step "modules $v" "$HARNESS_DIR/modules.sh" "$v"
	step "initramfs $v" "$HARNESS_DIR/mkinitramfs.sh" "$v"
done

phase_begin "oracle unit tests"
if python3 -m unittest discover -v -s "$REPO_DIR/tools/oracle" -p 'test_*.py' \
	> "$OUT_ROOT/oracle-unittest.log" 2>&1 &&
	python3 -m unittest discover -v -s "$HARNESS_DIR" -p 'test_*.py' \
	>> "$OUT_ROOT/oracle-unittest.log" 2>&1; then :; fi
while IFS= read -r line; do
	case $line in
	*" ... ok") ktap_result ok "oracle unit: ${line% ... ok}" ;;
	*" ... FAIL"|*" ... ERROR") ktap_result fail "oracle unit: ${line% ... *}" ;;
	esac
done < "$OUT_ROOT/oracle-unittest.log"
[ "$(grep -c '^OK' "$OUT_ROOT/oracle-unittest.log")" = 2 ] ||
	ktap_result fail "oracle and importer unit tests ran"
phase_end


# The run matrix: {upstream C, ours-c C, ours Rust} x {VT-d legacy,
# scalable mode}, each cell one boot running every selftest (plan "full")
# on a KASAN kernel: the sample's unbind and rmmod under load, removal
# while blocked, the helpers' group walks; any KASAN report fails the guest
# (its init fails a run on any BUG: in the log). ours-c and ours are the
# same patched tree with the C and the Rust helpers: results.py fails the
# check on any verdict that differs between them. Listed longest first, so
# that the cells booted side by side end close together.
# Last, the PASID cells: reset_group.sh alone (plan "pasid") in mode pasid,
# VT-d scalable mode with PASIDs, which QEMU 10.0 offers only without
# device-IOTLBs (see run-vm.sh), so there is no oracle there.
cells=(ours/scalable ours-c/scalable ours-c/legacy ours/legacy
	upstream/legacy upstream/scalable
	ours/pasid:pasid ours-c/pasid:pasid upstream/pasid:pasid)
# A second IOMMU driver, AMD-Vi, is left out by default: Linux 7.3's AMD
# driver enables ATS only for domains with v2 page tables (or identity),
# and QEMU 10.0's AMD-Vi cannot give the DMA API v2 page tables ("Cannot
# enable v2 page table for DMA-API. Fallback to v1."), so the function never
# has ATS enabled, QEMU traces no device-IOTLB invalidation at all, and even
# the raw-FLR negative control would see none: the oracle would be blind.
# AMD_CELLS=1 runs the cells anyway (one ATS function per VM, --amd), e.g.
# on a QEMU whose AMD-Vi offers v2 page tables (then add amd_iommu=pgtbl_v2
# through VM_APPEND).
MODES="legacy scalable pasid"
amd=0
if [ "${AMD_CELLS:-0}" = 1 ] && ver_ge "$(qemu_version)" 9.2; then
	cells+=(upstream/amd ours-c/amd ours/amd)
	MODES="legacy scalable pasid amd"
	amd=1
fi
vm_cells full "${cells[@]}"
[ "$amd" = 1 ] ||
	ktap_result skip "AMD-Vi cells: the guest never enables ATS under QEMU $(qemu_version)'s AMD-Vi (v1 page tables only), so the oracle would be blind (AMD_CELLS=1 runs them)"

finish
