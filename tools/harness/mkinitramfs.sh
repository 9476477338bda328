#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# mkinitramfs.sh VARIANT: the test initramfs of a built variant, from
# busybox-static, the variant's modules (in-tree and external), the
# selftests of this repository and the guest /init. Nothing is downloaded.

set -euo pipefail
. "$(dirname "$0")/lib.sh"

variant=${1:?usage: mkinitramfs.sh VARIANT}
obj=$BUILD_ROOT/$variant
[ -f "$obj/arch/x86/boot/bzImage" ] || die "variant $variant is not built: run 'make build'"
stage=$OUT_ROOT/initramfs-$variant
out=$OUT_ROOT/initramfs-$variant.cpio.gz
rm -rf "$stage"
mkdir -p "$stage"/{bin,sbin,proc,sys,dev,tmp,etc,selftests,plans}

cp /bin/busybox "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
cp "$HARNESS_DIR/guest/init" "$stage/init"
cp "$HARNESS_DIR"/guest/plans/* "$stage/plans/"

# Modules: in-tree ones of the variant, then ours built externally.
kmake "$variant" -s INSTALL_MOD_PATH="$stage" INSTALL_MOD_STRIP=1 \
	DEPMOD=/bin/true modules_install >/dev/null
kmake "$variant" -s M="$REPO_DIR" MO="$BUILD_ROOT/$variant-ext" \
	INSTALL_MOD_PATH="$stage" INSTALL_MOD_STRIP=1 DEPMOD=/bin/true \
	modules_install >/dev/null
krel=$(cat "$obj/include/config/kernel.release")
depmod -b "$stage" "$krel"

# Selftests, in the kselftest install layout.
sel=$REPO_DIR/tools/testing/selftests
mkdir -p "$stage/selftests/kselftest" "$stage/selftests/iommu/reset"
cp "$(variant_src upstream)/tools/testing/selftests/kselftest/ktap_helpers.sh" "$stage/selftests/kselftest/"
cp "$sel"/iommu/reset/*.sh "$stage/selftests/iommu/reset/"

(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 > "$out"
msg "initramfs[$variant]: $out ($(du -h "$out" | cut -f1))"
