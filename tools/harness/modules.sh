#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# modules.sh VARIANT: build this repository's external modules (top-level
# Kbuild) against a built variant, the way users build them against their
# own tree: make -C $KDIR M=$PWD. Output goes to the cache (MO=).

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

variant=${1:?usage: modules.sh VARIANT}
[ -f "$(obj_dir "$variant")/vmlinux" ] || die "variant $variant is not built: run 'make build'"
mo=$(obj_dir "$variant-ext")
mkdir -p "$mo"
log=$mo/build.log
if ! kmake "$variant" M="$REPO_DIR" MO="$mo" modules >"$log" 2>&1; then
	tail -30 "$log"
	die "external modules failed to build against $variant (log: $log)"
fi
grep -E ': warning:' "$log" && die "external modules built with warnings against $variant" || true
msg "modules[$variant]: $(find "$mo" -name '*.ko' | wc -l) external module(s)"
