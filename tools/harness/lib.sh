# SPDX-License-Identifier: GPL-2.0
# Common settings for the harness scripts; sourced, not executed.

PROJECT=iommu-reset-rust
HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$HARNESS_DIR/../.." && pwd)
CACHE_DIR=${CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/$PROJECT}

# Base kernel: Debian's linux-source package (arch: all).
BASE_PKG=${BASE_PKG:-linux-source-7.3}
BASE_VERSION=${BASE_VERSION:-7.3.4-1~bpo13+1}
BASE_SUITE=${BASE_SUITE:-trixie-backports}

# Toolchain: always Debian's rustc/rustdoc/clippy (rustup's has no rust-src).
LLVM_SUFFIX=-19
RUSTC=/usr/bin/rustc
RUSTDOC=/usr/bin/rustdoc
RUSTFMT=/usr/bin/rustfmt
CLIPPY_DRIVER=/usr/bin/clippy-driver
BINDGEN_VERSION=0.72.1
BINDGEN=$CACHE_DIR/tools/bin/bindgen
export LIBCLANG_PATH=/usr/lib/llvm${LLVM_SUFFIX}/lib
export CCACHE_DIR=$CACHE_DIR/ccache

PRISTINE_DIR=$CACHE_DIR/base/linux
WORK_DIR=$CACHE_DIR/src/ours
BUILD_ROOT=$CACHE_DIR/build
OUT_ROOT=$CACHE_DIR/out

JOBS=${JOBS:-$(($(nproc) + 1))}

msg() { printf '%s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# phase_begin NAME / phase_end: record phase durations for the summary.
ts_file() { mkdir -p "$OUT_ROOT" && printf '%s\n' "$OUT_ROOT/phases.txt"; }
phase_begin() { PHASE_NAME=$1; PHASE_T0=$(date +%s); msg ">>> $1"; }
phase_end() {
	local t=$(( $(date +%s) - PHASE_T0 ))
	printf '%-28s %4ds\n' "$PHASE_NAME" "$t" >> "$(ts_file)"
	msg "<<< $PHASE_NAME done in ${t}s"
}
# phases_start: start the clock and an empty phase list for this command.
phases_start() { T0=$(date +%s); : > "$(ts_file)"; }
# phases_print: the phase list with durations and the total since phases_start.
phases_print() {
	echo "Phases:"
	cat "$(ts_file)"
	printf '%-28s %4ds\n' total $(( $(date +%s) - T0 ))
}

# Source tree of a variant: upstream builds the pristine tree, ours the
# patched work tree. KDIR= replaces the pristine tree.
variant_src() {
	case $1 in
	upstream) printf '%s\n' "${KDIR:-$PRISTINE_DIR}" ;;
	ours) printf '%s\n' "$WORK_DIR" ;;
	*) die "unknown variant '$1' (expected upstream or ours)" ;;
	esac
}

# A compiler wrapper, so that ccache never appears as a separate word (rustc
# takes $(HOSTCC) as its linker).
CCACHE_CC=$CACHE_DIR/tools/bin/ccache-clang
setup_ccache() {
	[ -x "$CCACHE_CC" ] && return 0
	mkdir -p "${CCACHE_CC%/*}"
	printf '#!/bin/sh\nexec ccache clang%s "$@"\n' "$LLVM_SUFFIX" > "$CCACHE_CC"
	chmod +x "$CCACHE_CC"
}

# Kernel make with the project's toolchain, for an already configured O= dir.
kmake() {
	local variant=$1 src
	shift
	case $variant in upstream) src=$(variant_src upstream) ;; *) src=$WORK_DIR ;; esac
	setup_ccache
	make -C "$src" O="$BUILD_ROOT/$variant" \
		LLVM=$LLVM_SUFFIX RUSTC=$RUSTC RUSTDOC=$RUSTDOC \
		RUSTFMT=$RUSTFMT CLIPPY_DRIVER=$CLIPPY_DRIVER BINDGEN=$BINDGEN \
		CC="$CCACHE_CC" -j"$JOBS" "$@"
}
