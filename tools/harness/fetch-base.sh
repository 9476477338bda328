#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Fetch Debian's linux-source package through a private apt configuration
# (the archive URI is read from this machine's own apt sources) and unpack it
# once into the cache. With KDIR= set, check that tree instead.

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

if [ -n "${KDIR:-}" ]; then
	[ -f "$KDIR/Makefile" ] && [ -d "$KDIR/rust/kernel" ] ||
		die "KDIR=$KDIR is not a kernel source tree with Rust support (no rust/kernel)"
	msg "base: using KDIR=$KDIR ($(make -s -C "$KDIR" kernelversion 2>/dev/null))"
	exit 0
fi

stamp=$PRISTINE_DIR/.unpacked-$BASE_VERSION
[ -f "$stamp" ] && exit 0

apt_root=$CACHE_DIR/apt
mapfile -t apt_opts < <(private_apt "$apt_root" "$BASE_SUITE")
[ ${#apt_opts[@]} -gt 0 ] ||
	die "no Debian archive found in /etc/apt sources; fetch $BASE_PKG yourself or use KDIR=/path/to/linux"

msg "base: fetching $BASE_PKG=$BASE_VERSION from $BASE_SUITE"
if ! apt-get "${apt_opts[@]}" -qq update 2>"$apt_root/update.log" ||
   ! (cd "$apt_root" && apt-get "${apt_opts[@]}" -qq download "$BASE_PKG=$BASE_VERSION" 2>"$apt_root/download.log"); then
	cat "$apt_root"/*.log >&2 2>/dev/null || true
	die "could not fetch $BASE_PKG $BASE_VERSION ($BASE_SUITE). Use your own Rust-enabled tree instead: make KDIR=/path/to/linux ..."
fi

deb=$(ls "$apt_root"/"${BASE_PKG}"_*.deb | head -n1)
msg "base: unpacking $(basename "$deb")"
rm -rf "$PRISTINE_DIR" "$CACHE_DIR/base/tmp"
mkdir -p "$CACHE_DIR/base/tmp"
dpkg-deb -x "$deb" "$CACHE_DIR/base/tmp"
tarball=$(ls "$CACHE_DIR"/base/tmp/usr/src/linux-source-*.tar.* | head -n1)
[ -f "$tarball" ] || die "$deb holds no source tarball"
mkdir -p "$PRISTINE_DIR"
tar -xf "$tarball" -C "$PRISTINE_DIR" --strip-components=1
rm -rf "$CACHE_DIR/base/tmp"
touch "$stamp"
msg "base: pristine tree at $PRISTINE_DIR ($(make -s -C "$PRISTINE_DIR" kernelversion))"
