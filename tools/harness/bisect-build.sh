#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bisect-build.sh: build the exported series (make patches) patch by patch,
# with the Rust reset helpers on (CONFIG_IOMMU_RESET_RUST=y) and off, so that
# every patch is known to build in both settings (git bisect safety).
#
# The tree is the base plus the files of the exported commits up to the one
# under test; the configurations are those of the ours and ours-c builds
# (symbols that a patch has not introduced yet fall away in olddefconfig).
# Builds are incremental from one patch to the next, through ccache.
#
# BISECT_FROM=N starts at patch N (after fixing a later patch).

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

repo=$OUT_ROOT/export-git
[ -d "$repo/.git" ] || die "no exported series: run 'make patches' first"
for s in ours ours-c ours-noiommu; do
	[ -f "$(obj_dir "$s")/.config" ] || die "no $s configuration: run 'make check' (or build.sh $s) first"
done
base=$(variant_src upstream)
src=$CACHE_DIR/src/bisect
setup_ccache

mapfile -t commits < <(git -C "$repo" rev-list --reverse HEAD)
n=$((${#commits[@]} - 1))
from=${BISECT_FROM:-1}
[[ $from =~ ^[0-9]+$ ]] && [ "$from" -ge 1 ] && [ "$from" -le "$n" ] ||
	die "BISECT_FROM=$from: expected a patch number from 1 to $n"

msg "bisect: tree at $src (base + patches 1..$((from - 1)))"
mkdir -p "$src"
rsync -a --delete "$base/" "$src/"
# sync_to K: bring the tree from the base to patch K of the series.
sync_to() {
	local c=${commits[$1]} f
	while IFS= read -r f; do
		if git -C "$repo" cat-file -e "$c:$f" 2>/dev/null; then
			mkdir -p "$src/$(dirname "$f")"
			git -C "$repo" show "$c:$f" > "$src/$f"
		else
			rm -f "$src/$f"
		fi
	done < <(git -C "$repo" diff --name-only --no-renames "${commits[0]}" "$c")
}
[ "$from" = 1 ] || sync_to $((from - 1))

bmake() {
	make -C "$src" O="$BUILD_ROOT/bisect-$1" \
		LLVM=$LLVM_SUFFIX RUSTC=$RUSTC RUSTDOC=$RUSTDOC \
		RUSTFMT=$RUSTFMT CLIPPY_DRIVER=$CLIPPY_DRIVER BINDGEN=$BINDGEN \
		CC="$CCACHE_CC" -j"$JOBS" "${@:2}"
}

declare -A cfg=([rust]=ours [c]=ours-c)
rows=()
fails=0
t0=$(date +%s)
for ((k = from; k <= n; k++)); do
	sync_to "$k"
	subj=$(git -C "$repo" log -1 --format=%s "${commits[k]}")
	row=$(printf '%02d %-62.62s' "$k" "$subj")
	for s in rust c; do
		obj=$BUILD_ROOT/bisect-$s
		mkdir -p "$obj"
		cp "$(obj_dir "${cfg[$s]}")/.config" "$obj/.config"
		log=$obj/build-$k.log
		t1=$(date +%s)
		# A long first build: show that it moves.
		( while sleep 60; do
			msg "bisect:   patch $k, $s: $(( $(date +%s) - t1 ))s," \
				"$(grep -c '^  [A-Z]' "$log" 2>/dev/null || echo 0) objects"
		done ) &
		ticker=$!
		if bmake "$s" olddefconfig > "$log" 2>&1 && bmake "$s" bzImage modules >> "$log" 2>&1; then
			if grep -qE ': warning:|^warning:' "$log"; then
				st="warn"
			else
				st="ok"
				rm -f "$log"
			fi
		else
			st="FAIL"
			fails=$((fails + 1))
		fi
		kill $ticker 2>/dev/null || true
		wait $ticker 2>/dev/null || true
		row+=$(printf '  %-4s %4ds' "$st" $(( $(date +%s) - t1 )))
		msg "bisect: patch $k/$n, Rust helpers $s: $st (elapsed $(( $(date +%s) - t0 ))s)"
		[ "$st" = ok ] || msg "bisect:   log: $log"
	done
	rows+=("$row")
done


# At the tip, the configurations a user's kernel may have besides ours: no
# IOMMU API and no ATS (the kernel crate and the Rust sample must still
# build: the helpers are static inlines there), and an IOMMU without VT-d
# (the Rust reset helpers on, AMD-Vi only).
tip=()
if [ "$n" -ge "$from" ]; then
	for s in noiommu novtd; do
		obj=$BUILD_ROOT/bisect-$s
		mkdir -p "$obj"
		log=$obj/build-tip.log
		t1=$(date +%s)
		case $s in
		noiommu) cp "$(obj_dir ours-noiommu)/.config" "$obj/.config" ;;
		novtd)
			cp "$(obj_dir ours)/.config" "$obj/.config"
			"$src/scripts/config" --file "$obj/.config" -d INTEL_IOMMU -e AMD_IOMMU ;;
		esac
		if bmake "$s" olddefconfig > "$log" 2>&1 && bmake "$s" bzImage modules >> "$log" 2>&1; then
			st=ok
			grep -qE ': warning:|^warning:' "$log" && st=warn
		else
			st=FAIL
			fails=$((fails + 1))
		fi
		tip+=("$(printf '%-22s %-4s %4ds' "$s" "$st" $(( $(date +%s) - t1 )))")
		msg "bisect: tip, $s: $st"
		[ "$st" = ok ] || msg "bisect:   log: $log"
	done
fi

echo
echo "Per-patch build (Rust helpers on / off), elapsed $(( $(date +%s) - t0 ))s:"
printf '%-65s  %-9s  %s\n' "patch" "rust" "c"
printf '%s\n' "${rows[@]}"
if [ ${#tip[@]} -gt 0 ]; then
	echo "At the tip (noiommu: IOMMU_API=n, PCI_ATS=n; novtd: INTEL_IOMMU=n, Rust helpers):"
	printf '%s\n' "${tip[@]}"
fi
[ $fails = 0 ] || die "bisect: $fails build(s) failed"
