#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Quality gates on this repository's kernel code, against the built "ours"
# tree. Prints one "ok"/"not ok" line per gate, details below it.

set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

obj=$(obj_dir ours)
[ -f "$obj/vmlinux" ] || die "ours is not built: run 'make build'"
cd "$REPO_DIR" || exit 1
mapfile -t RS < <(find rust drivers samples tools/testing -name '*.rs' 2>/dev/null | sort)
ours_re=$(printf '%s\n' "${RS[@]}" | sed 's/[.]/[.]/g' | paste -sd'|')

gate() { # name status detail-file
	if [ "$2" = 0 ]; then echo "ok $1"; else echo "not ok $1"; sed 's/^/    /' "$3" | head -30; fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The gates are deterministic in their inputs: this repository's files, the
# base tree, the built "ours" (its vmlinux, relinked by any change of the
# work tree that reaches the kernel, and the clippy records) and the tools.
# A passing result is kept under that key and reused while nothing of it
# changed (LINT_CACHE=0 runs the gates anyway); a failing one never is.
lint_key() {
	{
		git -C "$REPO_DIR" ls-files -z -co --exclude-standard 2>/dev/null |
			(cd "$REPO_DIR" && xargs -0 -r sha256sum 2>/dev/null) ||
			(cd "$REPO_DIR" && find . -path ./.git -prune -o -type f -print0 |
				LC_ALL=C sort -z | xargs -0 -r sha256sum)
		sha256sum "$(variant_src upstream)/Makefile"
		stat -c '%n %s %Y' "$obj/vmlinux"
		cat "$obj/.lint"/*.txt 2>/dev/null
		$RUSTC -V; $RUSTFMT -V; $CLIPPY_DRIVER -V; shellcheck -V; pyflakes3 --version
	} 2>&1 | sha256sum | cut -c1-16
}
lint_cache=$CACHE_DIR/lint-cache
key=$(lint_key)
if [ "${LINT_CACHE:-1}" = 1 ] && [ -s "$lint_cache/$key.log" ]; then
	sed 's/^ok .*/& [inputs unchanged: the result of an earlier run]/' "$lint_cache/$key.log"
	exit 0
fi

{
# rustfmt, with the kernel's configuration.
$RUSTFMT --check --edition 2021 --config-path "$WORK_DIR/.rustfmt.toml" "${RS[@]}" > "$tmp/fmt" 2>&1
gate "rustfmt --check (${#RS[@]} files)" $? "$tmp/fmt"

# SAFETY comments, # Safety sections, documented public items.
python3 "$HARNESS_DIR/check-safety.py" "${RS[@]}" > "$tmp/safety" 2>&1
gate "SAFETY comments and docs" $? "$tmp/safety"

# clippy: "ours" is built with CLIPPY=1 and build.sh keeps the warnings about
# our Rust files per object (.lint/); rebuild those objects only when a
# record is missing.
if [ "$(ls "$obj/.lint"/*.txt 2>/dev/null | wc -l)" != 3 ]; then
	rm -f "$obj/rust/kernel.o" "$obj/drivers/iommu/reset.o" "$obj/samples/rust/rust_dma_reset.o"
	"$HARNESS_DIR/build.sh" ours > "$tmp/clippy.log" 2>&1
fi
st=$?
cat "$obj/.lint"/*.txt > "$tmp/clippy" 2>/dev/null || st=1
[ $st = 0 ] && [ ! -s "$tmp/clippy" ]
gate "CLIPPY=1 build without warnings in our code" $? "$tmp/clippy"

# rustdoc of the kernel crate.
kmake ours rustdoc > "$tmp/rustdoc.log" 2>&1
st=$?
grep -E -A8 "^(warning|error)" "$tmp/rustdoc.log" | grep -B2 -A6 -E "($ours_re)" > "$tmp/rustdoc" || true
[ $st = 0 ] && [ ! -s "$tmp/rustdoc" ]
gate "make rustdoc without warnings in our code" $? "$tmp/rustdoc"

# Compile-fail tests: misuse of the reset token must not build.
"$HARNESS_DIR/misuse.sh"

# The exported series (make patches): overlay files folded into their
# patches (which also checks that patches changing overlay files match the
# overlay), checkpatch --strict on every patch as sent (C, Kconfig, Rust and
# the new files alike), a maintainer for every file.
PATCH_OUT=$tmp/series "$HARNESS_DIR/export-patches.sh" > "$tmp/export" 2>&1
gate "make patches: series exports checkpatch-clean with maintainers" $? "$tmp/export"

# The harness, the oracle and the selftests: shellcheck (warnings and
# errors; sourced files followed) and pyflakes.
mapfile -t SH < <(git ls-files -- '*.sh' tools/harness/guest .ci/run)
shellcheck -x -P SCRIPTDIR -S warning -f gcc "${SH[@]}" > "$tmp/shellcheck" 2>&1
gate "shellcheck (${#SH[@]} scripts)" $? "$tmp/shellcheck"
mapfile -t PY < <(git ls-files -- '*.py')
pyflakes3 "${PY[@]}" > "$tmp/pyflakes" 2>&1
gate "pyflakes3 (${#PY[@]} files)" $? "$tmp/pyflakes"

# The documentation parses as reStructuredText.
python3 "$HARNESS_DIR/check-rst.py" Documentation > "$tmp/rst" 2>&1
gate "Documentation is valid reStructuredText" $? "$tmp/rst"
} | tee "$tmp/lint.log"
if ! grep -q '^not ok' "$tmp/lint.log" && [ "$(lint_key)" = "$key" ]; then
	mkdir -p "$lint_cache"
	find "$lint_cache" -name '*.log' -mtime +7 -delete 2>/dev/null
	cp "$tmp/lint.log" "$lint_cache/$key.log"
fi
exit 0
