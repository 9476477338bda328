#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Compile-fail tests of the Rust API: each directory of
# tools/testing/selftests/iommu/reset/rust_misuse/ is a small module built
# against "ours" like any external module. "ok" must build (the positive
# control: the setup works); every other one must fail with the error code
# in its "expect" file. Prints one "ok"/"not ok" line per case.

set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

[ -f "$(obj_dir ours)/vmlinux" ] || die "ours is not built: run 'make build'"
dir=$REPO_DIR/tools/testing/selftests/iommu/reset/rust_misuse
for case_dir in "$dir"/*/; do
	name=$(basename "$case_dir")
	mo=$BUILD_ROOT/ours-misuse/$name
	rm -rf "$mo"
	mkdir -p "$mo"
	kmake ours M="$case_dir" MO="$mo" modules > "$mo/build.log" 2>&1
	st=$?
	if [ -f "$case_dir/expect" ]; then
		code=$(cat "$case_dir/expect")
		if [ $st != 0 ] && grep -q "error\[$code\]" "$mo/build.log"; then
			echo "ok rust misuse $name: rejected with $code"
		else
			echo "not ok rust misuse $name: expected error $code (build status $st)"
			grep -E '^error' "$mo/build.log" | head -5 | sed 's/^/    /'
		fi
	elif [ $st = 0 ]; then
		echo "ok rust misuse $name: builds (positive control)"
	else
		echo "not ok rust misuse $name: positive control does not build"
		grep -E -A5 '^error' "$mo/build.log" | head -20 | sed 's/^/    /'
	fi
done
