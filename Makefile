# SPDX-License-Identifier: GPL-2.0
#
# Rust IOMMU reset helpers for PCI resets: build, boot and test harness.
#
#   make run      build everything, boot the demo under QEMU, print the table
#   make check    all tests (KTAP), closing line "N passed, N failed, N skipped"
#   make patches  export the upstream-ready patch series
#   make bisect   build the exported series patch by patch, Rust helpers on/off
#
# Variables: KDIR=/path/to/linux (your own Rust-enabled tree instead of the
# Debian base), CACHE_DIR=... (default ~/.cache/iommu-reset-rust), JOBS=N,
# VM_JOBS=N (emulators at once; default: one per CPU).
#
# When kbuild includes this directory as an external module (M=), only the
# Kbuild file is read; this Makefile is for people.

H := tools/harness
export KDIR CACHE_DIR JOBS

.PHONY: all run check deps fetch prepare build build-upstream build-ours \
	modules initramfs oracle-test soak bench patches bisect clean distclean help

all: run

help:
	@sed -n '3,12p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@$(H)/deps.sh

fetch: deps
	@$(H)/fetch-base.sh

prepare: fetch
	@$(H)/prepare.sh

# One build at a time: these run strictly in sequence.
build: prepare
	@$(H)/build.sh upstream
	@$(H)/build.sh ours

modules: build
	@$(H)/modules.sh upstream
	@$(H)/modules.sh ours

initramfs: modules
	@$(H)/mkinitramfs.sh upstream
	@$(H)/mkinitramfs.sh ours

oracle-test:
	@python3 -m unittest discover -s tools/oracle -p 'test_*.py'
	@python3 -m unittest discover -s tools/harness -p 'test_*.py'

check:
	@$(H)/check.sh

run:
	@$(H)/run.sh

soak:
	@$(H)/soak.sh

bench:
	@$(H)/bench.sh

patches: prepare
	@$(H)/export-patches.sh

bisect: patches
	@$(H)/bisect-build.sh

clean:
	rm -rf "$${CACHE_DIR:-$${XDG_CACHE_HOME:-$$HOME/.cache}/iommu-reset-rust}/out"

distclean:
	rm -rf "$${CACHE_DIR:-$${XDG_CACHE_HOME:-$$HOME/.cache}/iommu-reset-rust}"
