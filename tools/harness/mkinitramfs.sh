#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# mkinitramfs.sh VARIANT: the test initramfs of a built variant, from
# busybox-static, the variant's modules (in-tree and external), the
# selftests of this repository and the guest /init. Nothing is downloaded.

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

variant=${1:?usage: mkinitramfs.sh VARIANT}
obj=$(obj_dir "$variant")
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
kmake "$variant" -s M="$REPO_DIR" MO="$(obj_dir "$variant-ext")" \
	INSTALL_MOD_PATH="$stage" INSTALL_MOD_STRIP=1 DEPMOD=/bin/true \
	modules_install >/dev/null
krel=$(cat "$obj/include/config/kernel.release")
depmod -b "$stage" "$krel"

# Selftests: the kselftest install of our suite, with its test module built
# against this variant (lib.mk's TEST_GEN_MODS_DIR).
setup_ccache
# The module is built in the source tree: drop what another variant built.
(cd "$WORK_DIR/tools/testing/selftests/iommu/reset/test_modules" &&
	rm -f -- *.o *.ko *.mod *.mod.c .*.cmd Module.symvers modules.order)
make -s -C "$WORK_DIR/tools/testing/selftests" TARGETS=iommu/reset \
	KDIR="$obj" LLVM=$LLVM_SUFFIX RUSTC=$RUSTC BINDGEN=$BINDGEN CC="$CCACHE_CC" \
	INSTALL_PATH="$stage/selftests" install > "$OUT_ROOT/kselftest-$variant.log" 2>&1 ||
	{ tail -20 "$OUT_ROOT/kselftest-$variant.log"; die "kselftest install failed for $variant"; }
[ -x "$stage/selftests/iommu/reset/reset_smoke.sh" ] ||
	die "kselftest install did not install iommu/reset"

(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 > "$out"
msg "initramfs[$variant]: $out ($(du -h "$out" | cut -f1))"
