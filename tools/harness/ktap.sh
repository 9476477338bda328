# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Host-side KTAP collection for make check / make run; sourced.

KTAP_RESULTS=()
KTAP_PASS=0 KTAP_FAIL=0 KTAP_SKIP=0 KTAP_XFAIL=0

# ktap_result ok|fail|skip DESCRIPTION [DETAIL-FILE]
ktap_result() {
	local n=$(( ${#KTAP_RESULTS[@]} + 1 ))
	case $1 in
	ok) KTAP_RESULTS+=("ok $n $2"); KTAP_PASS=$((KTAP_PASS + 1)) ;;
	skip) KTAP_RESULTS+=("ok $n $2 # SKIP"); KTAP_SKIP=$((KTAP_SKIP + 1)) ;;
	xfail) KTAP_RESULTS+=("ok $n $2 # XFAIL"); KTAP_XFAIL=$((KTAP_XFAIL + 1)) ;;
	*) KTAP_RESULTS+=("not ok $n $2"); KTAP_FAIL=$((KTAP_FAIL + 1)) ;;
	esac
	printf '%s\n' "${KTAP_RESULTS[-1]}"
}

# ktap_results: results from "STATUS<TAB>DESCRIPTION" lines on stdin, as the
# host-side checkers print them (console_scan.py, required.py); STATUS "#"
# is a line of diagnostics.
ktap_results() {
	local st desc
	while IFS=$'\t' read -r st desc; do
		case $st in
		'#') printf '#   %s\n' "$desc" ;;
		*) ktap_result "$st" "$desc" ;;
		esac
	done
}

# ktap_import PREFIX FILE: the results of the guest's test channel (its own
# serial port) as host results; lost or garbled output fails (see
# ktap_import.py).
ktap_import() {
	local st desc
	while IFS=$'\t' read -r st desc; do
		ktap_result "$st" "$desc"
	done < <(python3 "$HARNESS_DIR/ktap_import.py" "$2" "$1")
}

# kunit_import PREFIX FILE: KUnit results from a serial log: every top-level
# suite, and the cases of this project's suites (iommu_reset*, rust_dma_streaming);
# see ktap_import.py --kunit. Which of them must be there: required.txt.
kunit_import() {
	local prefix=$1 file=$2 res name
	while IFS=$'\t' read -r res name; do
		case $res in
		ok) ktap_result ok "$prefix: kunit $name" ;;
		skip) ktap_result skip "$prefix: kunit $name" ;;
		*) ktap_result fail "$prefix: kunit $name" ;;
		esac
	done < <(python3 "$HARNESS_DIR/ktap_import.py" --kunit "$file")
}

ktap_summary() {
	printf 'TAP version 13\n1..%d\n' "${#KTAP_RESULTS[@]}"
	printf '%s\n' "${KTAP_RESULTS[@]}"
	printf '# Totals: pass:%d fail:%d xfail:%d xpass:0 skip:%d error:0\n' \
		"$KTAP_PASS" "$KTAP_FAIL" "$KTAP_XFAIL" "$KTAP_SKIP"
}
