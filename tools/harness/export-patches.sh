#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make patches: export the work as an upstream-ready git format-patch series
# against the 7.3 base, with the overlay files folded into the patches named
# in patches/overlay.map, a cover letter, checkpatch --strict on every patch
# and the recipients from scripts/get_maintainer.pl.
# Output: $OUT_ROOT/series/ (override with PATCH_OUT=).

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

base=$(variant_src upstream)
[ -f "$base/Makefile" ] || die "no base tree: run 'make fetch' (or set KDIR=)"
out=${PATCH_OUT:-$OUT_ROOT/series}
repo=$OUT_ROOT/export-git
rm -rf "$repo" "$out"
mkdir -p "$repo" "$out"
cd "$REPO_DIR"

mapfile -t SERIES < <(sed -e '/^#/d' -e '/^$/d' patches/series)

# The base commit holds only the upstream files the series touches.
touched=$(cat "${SERIES[@]/#/patches/}" | sed -n 's|^--- a/||p' | sort -u)
for f in $touched; do
	# Files that the overlay adds are not in the base.
	[ -e "$base/$f" ] || continue
	mkdir -p "$repo/$(dirname "$f")"
	cp "$base/$f" "$repo/$f"
done
git -C "$repo" init -q
git -C "$repo" config user.name "Your Name"
git -C "$repo" config user.email "you@example.org"
git -C "$repo" add -A
git -C "$repo" commit -q -m "base: Linux $(make -s -C "$base" kernelversion)"

overlay_for() { # patch -> files
	awk -v p="$1" '$1 == p { for (i = 2; i <= NF; i++) print $i }' patches/overlay.map
}
copy_overlay() {
	for f in "$@"; do
		[ -e "$f" ] || die "patches/overlay.map names $f, which does not exist"
		mkdir -p "$repo/$(dirname "$f")"
		cp -r "$f" "$repo/$(dirname "$f")/"
	done
}

# rewind_overlay I FILES...: the overlay holds its files in their final
# state; take back what the patches after the I-th change in them, newest
# first, so that each patch of the series shows its own change.
rewind_overlay() {
	local i=$1 j inc=() f
	shift
	for f in "$@"; do inc+=(--include="$f" --include="$f/*"); done
	for ((j = ${#SERIES[@]} - 1; j > i; j--)); do
		git -C "$repo" apply -R --allow-empty "${inc[@]}" "$REPO_DIR/patches/${SERIES[j]}" ||
			die "overlay files changed by ${SERIES[j]} do not match it (regenerate the patch)"
	done
}

for i in "${!SERIES[@]}"; do
	p=${SERIES[i]}
	git -C "$repo" apply --index "$REPO_DIR/patches/$p" || die "patch $p does not apply"
	mapfile -t files < <(overlay_for "$p")
	copy_overlay "${files[@]}"
	[ ${#files[@]} = 0 ] || rewind_overlay "$i" "${files[@]}"
	git -C "$repo" add -A
	# The message: the patch's Subject (without [PATCH n/m]) and body.
	awk '/^Subject: /{sub(/^Subject: (\[PATCH[^]]*\] )?/, ""); subj=$0; insubj=1; next}
	     insubj && /^ /{sub(/^ /, " "); subj=subj $0; next}
	     insubj{insubj=0; print subj; print ""; body=1; next}
	     body && /^---$/{exit}
	     body{print}' "patches/$p" > "$OUT_ROOT/export-msg"
	git -C "$repo" commit -q -F "$OUT_ROOT/export-msg"
done
while IFS= read -r line; do
	case $line in
	+*) subj=$(echo "${line#+}" | sed 's/ *|.*//')
	    own_files=$(echo "$line" | sed 's/.*| *//')
	    slug=$(echo "$subj" | tr 'A-Z' 'a-z' | sed 's/[^a-z0-9]\+/-/g; s/^-//; s/-$//')
	    msg=patches/messages/$slug.txt
	    [ -f "$msg" ] || die "no message $msg for '$subj'"
	    # shellcheck disable=SC2086
	    copy_overlay $own_files
	    git -C "$repo" add -A
	    { echo "$subj"; echo; cat "$msg"; echo; echo "Signed-off-by: Your Name <you@example.org>"; } > "$OUT_ROOT/export-msg"
	    git -C "$repo" commit -q -F "$OUT_ROOT/export-msg" ;;
	esac
done < patches/overlay.map

# Every overlay file must be in some patch.
missing=0
while read -r f; do
	[ -e "$repo/$f" ] || { msg "export: $f is in no patch (add it to patches/overlay.map)"; missing=1; }
done < <(find rust drivers samples Documentation -type f; find tools/testing -type f ! -name '*.o' ! -name '*.ko' ! -name '.*')
[ $missing = 0 ] || die "overlay files missing from the series"

n=$(($(git -C "$repo" rev-list --count HEAD) - 1))
git -C "$repo" format-patch -q --cover-letter --thread=shallow -o "$out" "HEAD~$n"
cover=$(ls "$out"/0000-cover-letter.patch)
python3 - "$cover" "$REPO_DIR/patches/cover-letter.txt" <<'PY'
import sys
cover, text = sys.argv[1], open(sys.argv[2]).read()
subj, _, body = text.partition('\n\n')
s = open(cover).read()
s = s.replace('*** SUBJECT HERE ***', subj.strip())
s = s.replace('*** BLURB HERE ***', body.strip())
open(cover, 'w').write(s)
PY

# checkpatch on every patch, recipients from get_maintainer.pl (in the
# work tree, which has the MAINTAINERS file and every touched path).
# checkpatch asks whether MAINTAINERS needs updating for every new file;
# that question is answered here: each new file must have a maintainer.
# The base is a release tarball without git history, so checkpatch cannot
# look up the commits that Fixes: tags name (UNKNOWN_COMMIT_ID): they are
# the 7.3 commits that added the helpers and their PCI callers.
st=0
for p in "$out"/0*.patch; do
	case $p in *0000-cover-letter.patch) continue ;; esac
	"$WORK_DIR/scripts/checkpatch.pl" --strict --no-tree --ignore FILE_PATH_CHANGES,UNKNOWN_COMMIT_ID \
		-q - < "$p" > "$out/.cp" 2>&1 ||
		{ msg "export: checkpatch: $(basename "$p")"; sed 's/^/    /' "$out/.cp"; st=1; }
	for f in $(awk '/^--- \/dev\/null/ { getline; sub(/^\+\+\+ b\//, ""); print }' "$p"); do
		m=$(cd "$WORK_DIR" && ./scripts/get_maintainer.pl --no-git -f "$f" 2>/dev/null |
			grep -c '(maintainer\|(supporter' || true)
		[ "$m" -gt 0 ] || { msg "export: no maintainer for $f"; st=1; }
	done
done
rm -f "$out/.cp"
(cd "$WORK_DIR" && ./scripts/get_maintainer.pl --no-git --no-rolestats "$out"/0*.patch) \
	> "$out/recipients.txt" 2>/dev/null || true
msg "export: $n patches + cover letter in $out (checkpatch $([ $st = 0 ] && echo clean || echo 'NOT clean'))"
msg "export: recipients (scripts/get_maintainer.pl) in $out/recipients.txt:"
sed 's/^/    /' "$out/recipients.txt" | head -20
exit $st
