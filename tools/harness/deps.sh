#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install (idempotently) and check everything the project needs: Debian
# packages and bindgen-cli from the Rust package registry (cargo). Quiet when
# all is present.

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

PACKAGES=(
	rustc-web rust-web-src rust-web-clippy rustfmt-web
	clang-19 lld-19 llvm-19 libclang-19-dev
	make gcc libc6-dev flex bison bc libelf-dev libssl-dev cpio kmod
	busybox-static qemu-system-x86 ccache python3 python3-docutils rsync
	xz-utils git perl shellcheck pyflakes3
)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done

if ((${#missing[@]})); then
	msg "deps: installing Debian packages: ${missing[*]}"
	if [ "$(id -u)" != 0 ]; then
		SUDO=sudo
		command -v sudo >/dev/null || die "need root to install: apt-get install ${missing[*]}"
	else
		SUDO=
	fi
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq ||
		die "apt-get update failed; install by hand: apt-get install ${missing[*]}"
	$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install failed; install by hand: apt-get install ${missing[*]}"
fi

# bindgen-cli, pinned, into the cache (not into ~/.cargo).
if ! [ -x "$BINDGEN" ] || ! "$BINDGEN" --version 2>/dev/null | grep -q " $BINDGEN_VERSION\$"; then
	command -v cargo >/dev/null ||
		die "cargo not found: install rustup/cargo (needed once to build bindgen-cli $BINDGEN_VERSION)"
	msg "deps: cargo install bindgen-cli $BINDGEN_VERSION"
	cargo install --quiet --locked --root "$CACHE_DIR/tools" \
		bindgen-cli --version "$BINDGEN_VERSION" ||
		die "cargo install bindgen-cli $BINDGEN_VERSION failed (needs access to the Rust package registry)"
fi

# QEMU 10 from the backports suite of this Debian release: its AMD-Vi model
# translates DMA (pt=off), and it traces PASID-based device-IOTLB
# invalidations. The suite is added for this one install through a
# private apt configuration beside the machine's own sources.
qemu_backports() {
	local dir=$CACHE_DIR/apt-qemu uri keyring codename
	read -r uri keyring < <(debian_archive) || true
	[ -n "${uri:-}" ] || { msg "deps: no Debian archive in /etc/apt sources"; return 1; }
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	[ "$codename-backports" = "$QEMU_SUITE" ] ||
		{ msg "deps: $QEMU_SUITE is not the backports suite of this release ($codename)"; return 1; }
	mkdir -p "$dir"/{lists/partial,cache/archives/partial}
	printf 'deb [signed-by=%s] %s %s main\n' "$keyring" "$uri" "$QEMU_SUITE" > "$dir/backports.list"
	local opts=(-o "Dir::Etc::sourcelist=$dir/backports.list"
		-o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache"
		-o APT::Get::List-Cleanup=0)
	msg "deps: installing qemu-system-x86=$QEMU_PKG_VERSION from $QEMU_SUITE"
	$SUDO apt-get "${opts[@]}" -qq update > "$dir/update.log" 2>&1 ||
		{ tail -5 "$dir/update.log"; return 1; }
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" install -y -qq -t "$QEMU_SUITE" \
		--no-install-recommends "qemu-system-x86=$QEMU_PKG_VERSION" \
		"qemu-system-common=$QEMU_PKG_VERSION" "qemu-system-data=$QEMU_PKG_VERSION" \
		> "$dir/install.log" 2>&1 || { tail -5 "$dir/install.log"; return 1; }
}

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
qv=$(qemu_version)
if ! ver_ge "${qv:-0}" 10.0 && [ "${QEMU_BACKPORTS:-1}" = 1 ]; then
	qemu_backports ||
		msg "deps: warning: QEMU 10 could not be installed from $QEMU_SUITE; using QEMU $qv:" \
			"no AMD-Vi cells (its amd-iommu cannot turn translation on)." \
			"QEMU_BACKPORTS=0 skips this attempt."
fi

# Version checks: one clear line per problem.
check() { # name have want hint
	ver_ge "$2" "$3" || die "$1 $2 is too old (need >= $3): $4"
}
v=$($RUSTC --version 2>/dev/null | awk '{print $2}') || true
[ -n "$v" ] || die "$RUSTC missing: apt-get install rustc-web rust-web-src"
check rustc "$v" 1.78 "apt-get install rustc-web"
[ -d "$($RUSTC --print sysroot)/lib/rustlib/src/rust/library" ] ||
	die "rust library sources missing: apt-get install rust-web-src"
v=$(clang$LLVM_SUFFIX --version | sed -n 's/.*clang version \([0-9.]*\).*/\1/p' | head -n1)
check clang "$v" 19 "apt-get install clang-19 lld-19 llvm-19"
v=$("$BINDGEN" --version | awk '{print $2}')
check bindgen "$v" 0.71.1 "rm -rf $CACHE_DIR/tools and re-run make deps"
v=$(qemu_version)
check qemu "$v" 7.2 "apt-get install qemu-system-x86"
[ -x /bin/busybox ] || die "busybox missing: apt-get install busybox-static"
$CLIPPY_DRIVER --version >/dev/null 2>&1 || die "clippy missing: apt-get install rust-web-clippy"
exit 0
