# SPDX-License-Identifier: GPL-2.0
# Common settings for the harness scripts; sourced, not executed.
# shellcheck shell=bash

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
# shellcheck disable=SC2034 # deps.sh's
BINDGEN_VERSION=0.72.1
BINDGEN=$CACHE_DIR/tools/bin/bindgen
export LIBCLANG_PATH=/usr/lib/llvm${LLVM_SUFFIX}/lib
export CCACHE_DIR=$CACHE_DIR/ccache
# Objects of the pristine and the patched tree share the cache: the O= dirs
# differ (see obj_dir), the compile commands do not.
export CCACHE_NOHASHDIR=1

PRISTINE_DIR=$CACHE_DIR/base/linux
WORK_DIR=$CACHE_DIR/src/ours
BUILD_ROOT=$CACHE_DIR/build
OUT_ROOT=$CACHE_DIR/out

JOBS=${JOBS:-$(($(nproc) + 1))}

# QEMU: 10.0 from Debian 12's backports suite (a thread per vCPU, AMD-Vi
# with translation); the distribution's 7.2 is the fallback.
QEMU_PKG_VERSION=${QEMU_PKG_VERSION:-1:10.0.2+ds-2+deb13u1~bpo12+1}
QEMU_SUITE=${QEMU_SUITE:-bookworm-backports}

msg() { printf '%s\n' "$*"; }

# oracle_flags VARIANT MODE: what the trace oracle requires of a cell. In
# VT-d legacy mode (and on AMD-Vi) the blocking domain turns ATS off before
# each reset; scalable mode keeps it on and drops the PASID entry instead;
# the 7.3 baseline's known gaps are XFAIL, not FAIL.
oracle_flags() {
	case $2 in
	legacy) printf '%s\n' --require-ats-off ;;
	scalable | pasid) printf '%s\n' --scalable ;;
	amd) printf '%s\n' --require-ats-off --amd ;;
	esac
	[ "$1" = upstream ] && printf '%s\n' --baseline
	return 0
}

# oracle_run VARIANT MODE RUN [LABEL]: the trace oracle on RUN's trace and
# guest log, with what it requires of the cell (oracle_flags), into
# RUN/oracle.txt; returns its verdict. At the lowest priority, so that an
# emulator booted beside it keeps its CPU (a guest that gets less runs its
# load phases slower).
oracle_run() {
	local variant=$1 mode=$2 run=$3 label=${4:-} flags=()
	mapfile -t flags < <(oracle_flags "$variant" "$mode")
	[ -z "$label" ] || flags+=(--label "$label")
	nice -n 19 python3 "$REPO_DIR/tools/oracle/iommu_reset_oracle.py" "$run/trace.log" \
		--guest-log "$run/tests.log" "${flags[@]}" > "$run/oracle.txt" 2>&1
}
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

# vm_jobs: how many emulators to run at once, VM_JOBS or one per CPU (each
# runs its guest on one host thread, see run-vm.sh).
vm_jobs() {
	local jobs=${VM_JOBS:-$(nproc)}
	case $jobs in
	'' | *[!0-9]* | 0) die "VM_JOBS=$jobs: expected the number of emulators to run at once (1 or more)" ;;
	esac
	printf '%s\n' "$jobs"
}

# pool_run JOBS FUNC ARG...: FUNC ARG for every ARG, JOBS at a time, in the
# order given; returns when all are done. FUNC reports through files.
pool_run() {
	local jobs=$1 func=$2 arg running=0
	shift 2
	for arg in "$@"; do
		if [ "$running" -ge "$jobs" ]; then
			wait -n || true
			running=$((running - 1))
		fi
		"$func" "$arg" &
		running=$((running + 1))
	done
	wait || true
}

# budget_print COLD TARGET_COLD TARGET_WARM: one line with the run's time by
# kind of phase against the target of a cold (empty cache) or warm run.
budget_print() {
	local cold=$1 tc=$2 tw=$3 total target kind
	total=$(( $(date +%s) - T0 ))
	if [ "$cold" = 1 ]; then target=$tc kind=cold; else target=$tw kind=warm; fi
	awk -v total="$total" -v target="$target" -v kind="$kind" '
		{ t = $NF; sub(/s$/, "", t); name = $0; sub(/ +[0-9]+s$/, "", name)
		  if (name ~ /^build /) b += t; else if (name ~ /^vm /) v += t
		  else if (name ~ /^(modules|initramfs) /) m += t
		  else if (name == "lint") l += t; else o += t }
		END { printf "Budget (%s run, target <= %d min): %d s = builds %d + boots %d + modules/initramfs %d + lint %d + setup/other %d: %s\n",
			kind, target / 60, total, b, v, m, l, total - b - v - m - l,
			total <= target ? "met" : "NOT met" }' "$(ts_file)"
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

# obj_dir VARIANT: the O= directory of a kernel variant. It sits directly in
# its source tree, so that kbuild uses relative paths (srctree is ..) and the
# compiler sees the same command line for the pristine and the patched tree:
# ccache then serves every C object that the patches do not change from one
# build to the other. A KDIR= tree is built outside it (nothing is written
# into the user's tree). VARIANT-ext and the other helper builds live in
# $BUILD_ROOT.
obj_dir() {
	case $1 in
	upstream)
		if [ -n "${KDIR:-}" ]; then printf '%s\n' "$BUILD_ROOT/upstream"
		else printf '%s\n' "$PRISTINE_DIR/.build-upstream"; fi ;;
	ours | ours-c | ours-bench | ours-c-bench | ours-noiommu) printf '%s\n' "$WORK_DIR/.build-$1" ;;
	*) printf '%s\n' "$BUILD_ROOT/$1" ;;
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
# "ours" is the CLIPPY=1 build (see build.sh): every make of its tree says
# so, or kbuild would see the Rust objects' commands change and the next
# build would recompile them all (make rustdoc rebuilds the crates it needs).
kmake() {
	local variant=$1 src clippy=()
	shift
	case $variant in upstream) src=$(variant_src upstream) ;; *) src=$WORK_DIR ;; esac
	[ "$variant" = ours ] && clippy=(CLIPPY=1)
	setup_ccache
	make -C "$src" O="$(obj_dir "$variant")" "${clippy[@]}" \
		LLVM=$LLVM_SUFFIX RUSTC=$RUSTC RUSTDOC=$RUSTDOC \
		RUSTFMT=$RUSTFMT CLIPPY_DRIVER=$CLIPPY_DRIVER BINDGEN=$BINDGEN \
		CC="$CCACHE_CC" -j"$JOBS" "$@"
}

# debian_archive: "URI KEYRING" of the Debian archive in this machine's own
# apt sources (deb822 or one-line format), or nothing.
debian_archive() {
	local f u k=
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		u=$(awk '/^URIs:/{print $2; exit}' "$f")
		case $u in
		*/debian | */debian/)
			k=$(awk '/^Signed-By:/{print $2; exit}' "$f")
			printf '%s %s\n' "$u" "${k:-/usr/share/keyrings/debian-archive-keyring.gpg}"
			return 0 ;;
		esac
	done
	[ -f /etc/apt/sources.list ] || return 0
	u=$(awk '$1=="deb" && $2 !~ /^\[/ && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list)
	[ -z "$u" ] || printf '%s %s\n' "$u" /usr/share/keyrings/debian-archive-keyring.gpg
}

# private_apt DIR SUITE...: write a private apt configuration under DIR whose
# only sources are SUITE... of the machine's own Debian archive, and print
# the apt-get options that select it (one per line). The machine's apt
# configuration is not changed.
private_apt() {
	local dir=$1 uri keyring s
	shift
	read -r uri keyring < <(debian_archive) || true
	[ -n "${uri:-}" ] || return 1
	mkdir -p "$dir"/{lists/partial,cache/archives/partial,etc/preferences.d}
	: > "$dir/etc/sources.list"
	for s in "$@"; do
		printf 'deb [signed-by=%s] %s %s main\n' "$keyring" "$uri" "$s" >> "$dir/etc/sources.list"
	done
	printf '%s\n' -o "Dir::Etc::sourcelist=$dir/etc/sources.list" \
		-o Dir::Etc::sourceparts=- \
		-o "Dir::Etc::preferencesparts=$dir/etc/preferences.d" \
		-o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache" \
		-o APT::Get::List-Cleanup=0
}

# qemu_version: "MAJOR.MINOR" of the installed qemu-system-x86_64.
qemu_version() {
	qemu-system-x86_64 --version 2>/dev/null |
		sed -n 's/.*version \([0-9]*\.[0-9]*\).*/\1/p' | head -n1
}

# ver_ge HAVE WANT: true when version HAVE >= WANT.
ver_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }
