#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# build.sh VARIANT [extra make targets]
#
# Configure (tinyconfig + the repository's fragments, every requested symbol
# verified) and build one kernel variant out of tree:
#   upstream  pristine base tree, C reset helpers (the baseline)
#   ours      patched work tree, Rust reset helpers
#   ours-c    patched work tree, C reset helpers
#   ours-bench, ours-c-bench  ours and ours-c without KASAN, for make bench
#   ours-noiommu  the kernel crate and the Rust sample without the IOMMU
#             API and ATS (a build gate: make check builds rust/ and
#             samples/rust/ only)

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

variant=${1:?usage: build.sh upstream|ours|ours-c|ours-bench|ours-c-bench|ours-noiommu}
shift
case $variant in
upstream) srcv=upstream; frags=(kernel/configs/iommu-reset-qemu.config) ;;
ours)
	srcv=ours
	frags=(kernel/configs/iommu-reset-qemu.config kernel/configs/iommu-reset-sample.config
		kernel/configs/iommu-reset-rust.config) ;;
ours-c)
	srcv=ours
	frags=(kernel/configs/iommu-reset-qemu.config kernel/configs/iommu-reset-sample.config
		kernel/configs/iommu-reset-c.config) ;;
ours-bench)
	srcv=ours
	frags=(kernel/configs/iommu-reset-qemu.config kernel/configs/iommu-reset-sample.config
		kernel/configs/iommu-reset-rust.config kernel/configs/iommu-reset-bench.config) ;;
ours-c-bench)
	srcv=ours
	frags=(kernel/configs/iommu-reset-qemu.config kernel/configs/iommu-reset-sample.config
		kernel/configs/iommu-reset-c.config kernel/configs/iommu-reset-bench.config) ;;
ours-noiommu)
	srcv=ours
	frags=(kernel/configs/iommu-reset-qemu.config kernel/configs/iommu-reset-sample.config
		kernel/configs/iommu-reset-noiommu.config) ;;
*) die "unknown variant '$variant' (expected upstream, ours, ours-c, ours-bench, ours-c-bench or ours-noiommu)" ;;
esac
src=$(variant_src "$srcv")
[ -f "$src/Makefile" ] || die "no source tree at $src: run 'make prepare' first"
obj=$(obj_dir "$variant")
mkdir -p "$obj" "$CCACHE_DIR"
setup_ccache
log=$obj/build.log

frag_paths=()
for f in "${frags[@]}"; do frag_paths+=("$REPO_DIR/$f"); done

# "ours" is linted while it builds: clippy-driver compiles the Rust objects
# (CLIPPY=1, which kmake passes for every make of ours), and the warnings
# about this repository's Rust code are kept per object for lint.sh (see
# below).

# Re-configure only when the fragments (or the tree) changed.
cfg_hash=$(cat "${frag_paths[@]}" "$src/Makefile" | sha256sum | cut -c1-16)
if ! [ -f "$obj/.config" ] || [ "$(cat "$obj/.cfg-hash" 2>/dev/null)" != "$cfg_hash" ]; then
	msg "build[$variant]: configuring (tinyconfig + ${frags[*]})"
	kmake "$variant" -s tinyconfig >"$obj/config.log" 2>&1 || { tail -20 "$obj/config.log"; die "tinyconfig failed"; }
	"$src/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "${frag_paths[@]}" \
		>>"$obj/config.log" 2>&1 || { tail -20 "$obj/config.log"; die "merge_config.sh failed"; }
	kmake "$variant" -s olddefconfig >>"$obj/config.log" 2>&1 || { tail -20 "$obj/config.log"; die "olddefconfig failed"; }
	# Every requested symbol must have survived olddefconfig; a later fragment
	# overrides an earlier one, as in merge_config.sh.
	bad=0
	while IFS= read -r line; do
		case $line in
		CONFIG_*=*)
			sym=${line%%=*}
			if [ "${line#*=}" = n ]; then
				grep -q "^$sym=" "$obj/.config" && { msg "config: $sym is set, requested n"; bad=1; }
			elif ! grep -qx "$line" "$obj/.config"; then
				msg "config: requested $line, got: $(grep "^$sym=\|^# $sym is not set" "$obj/.config" || echo 'absent')"
				bad=1
			fi ;;
		esac
	done < <(cat "${frag_paths[@]}" | grep '^CONFIG_' | tac | awk -F= '!seen[$1]++' | tac)
	if [ $bad != 0 ]; then
		if ! grep -q '^CONFIG_RUST=y' "$obj/.config"; then
			kmake "$variant" rustavailable 2>&1 | tail -5 || true
		fi
		die "build[$variant]: requested config symbols were dropped (see above; dependencies missing?)"
	fi
	echo "$cfg_hash" > "$obj/.cfg-hash"
fi

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(bzImage modules)
msg "build[$variant]: make ${targets[*]} (-j$JOBS, log: $log)"
t0=$(date +%s)
kmake "$variant" "${targets[@]}" >"$log" 2>&1 &
pid=$!
# Progress every 20 s, checked every second: a build with nothing to do
# takes a few seconds, and must not wait out the 20.
tick=0
while sleep 1 && kill -0 $pid 2>/dev/null; do
	tick=$((tick + 1))
	[ $((tick % 20)) = 0 ] || continue
	n=$(grep -c '^  [A-Z]' "$log" || true)
	printf 'build[%s]: %4ds, %s objects\n' "$variant" $(( $(date +%s) - t0 )) "$n"
done
if ! wait $pid; then
	grep -E 'error|Error|warning:' "$log" | head -40
	tail -20 "$log"
	die "build[$variant] failed (full log: $log)"
fi
if grep -qE '^(warning|error)|: warning:' "$log"; then
	msg "build[$variant]: warnings:"
	grep -E '^(warning|error)|: warning:' "$log" | head -20
fi
# Clippy's warnings about this repository's Rust files, per object that this
# build compiled; an object it did not recompile keeps its last record.
if [ "$variant" = ours ]; then
	mkdir -p "$obj/.lint"
	mapfile -t ours_rs < <(cd "$REPO_DIR" && find rust drivers samples -name '*.rs' | sort)
	while read -r o prefix; do
		grep -qE "^  (CLIPPY|RUSTC) .* $o\$" "$log" || continue
		files=()
		for f in "${ours_rs[@]}"; do
			case $f in "$prefix"*) files+=("$f") ;; esac
		done
		# A diagnostic runs from its "warning:"/"error:" line to the next blank line.
		awk -v files="${files[*]}" '
			BEGIN { n = split(files, f, " ") }
			/^(warning|error)(\[|:)/ { blk = $0; inb = 1; next }
			inb && /^$/ { for (i = 1; i <= n; i++) if (index(blk, f[i])) { print blk "\n"; break }
				inb = 0; next }
			inb { blk = blk "\n" $0 }' "$log" > "$obj/.lint/${o//\//_}.txt"
	done <<-EOF
	rust/kernel.o rust/kernel/
	drivers/iommu/reset.o drivers/iommu/
	samples/rust/rust_dma_reset.o samples/rust/
	EOF
fi
msg "build[$variant]: ok in $(( $(date +%s) - t0 ))s"
