#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the "ours" work tree: a copy of the pristine base (or KDIR=), the
# patches of patches/series applied in order, then this repository's new
# files overlaid at their upstream paths. Incremental: unchanged files keep
# their timestamps, so a rebuild only recompiles what changed.

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

base=$(variant_src upstream)
[ -f "$base/Makefile" ] || die "no base tree at $base: run 'make fetch' (or set KDIR=)"

OVERLAY_DIRS=(rust drivers samples include Documentation kernel/configs tools/testing)

series=$REPO_DIR/patches/series
patches=()
if [ -f "$series" ]; then
	while read -r p _; do
		case $p in ''|'#'*) continue ;; esac
		[ -f "$REPO_DIR/patches/$p" ] || die "patches/series names $p, which does not exist"
		patches+=("$p")
	done < "$series"
fi

overlay_files() {
	(cd "$REPO_DIR" && for d in "${OVERLAY_DIRS[@]}"; do
		[ -d "$d" ] && find "$d" -type f ! -name '*.o' ! -name '*.ko' ! -name '.*.cmd'
	done | LC_ALL=C sort)
}

# The tree must be rebuilt from the base when the base, the patches or the
# set of overlay files changed; otherwise only changed overlay files are copied.
state=$( {
	echo "$base"
	cat "$base/Makefile"
	for p in "${patches[@]}"; do echo "$p"; cat "$REPO_DIR/patches/$p"; done
	overlay_files
} | sha256sum | cut -c1-16)

mkdir -p "$WORK_DIR"
if [ "$(cat "$WORK_DIR/.ours-state" 2>/dev/null)" != "$state" ]; then
	msg "prepare: syncing work tree from $base"
	rm -f "$WORK_DIR/.ours-state"
	rsync -a --delete --exclude=/.ours-state --exclude='/.build-*' "$base/" "$WORK_DIR/"
	# Changes of later patches to overlay files are in the overlay already:
	# git apply leaves them out. It runs in the work tree as a plain patch
	# tool (or in the tree's own repository, when KDIR= was a git tree),
	# never in a repository around it.
	mapfile -t exclude < <(overlay_files | sed 's/^/--exclude=/')
	for p in "${patches[@]}"; do
		if ! (cd "$WORK_DIR" && GIT_CEILING_DIRECTORIES=$(dirname "$WORK_DIR") \
			git apply --check --allow-empty "${exclude[@]}" "$REPO_DIR/patches/$p") \
			> "$WORK_DIR/.ours-apply.log" 2>&1; then
			cat "$WORK_DIR/.ours-apply.log" >&2
			die "patch $p does not apply to $base"
		fi
		(cd "$WORK_DIR" && GIT_CEILING_DIRECTORIES=$(dirname "$WORK_DIR") \
			git apply --allow-empty "${exclude[@]}" "$REPO_DIR/patches/$p")
	done
	rm -f "$WORK_DIR/.ours-apply.log"
	msg "prepare: applied ${#patches[@]} patch(es)"
	new=1
else
	new=0
fi

# Overlay: new files only (an overlay file must not shadow a base file).
while read -r f; do
	if [ $new = 1 ] && [ -e "$base/$f" ]; then
		die "overlay file $f exists in the base tree: edit it through a patch instead"
	fi
done < <(overlay_files)
# By content (--checksum), without the times: a fresh clone's files are all
# new, and copying their times would rebuild the kernel crate and everything
# else that includes an overlay file although nothing in them changed.
(cd "$REPO_DIR" && overlay_files |
	rsync -rlpc --files-from=- "$REPO_DIR/" "$WORK_DIR/")
echo "$state" > "$WORK_DIR/.ours-state"
msg "prepare: work tree ready at $WORK_DIR"
