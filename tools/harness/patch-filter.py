#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Drop the parts of a patch that touch the overlay's own files.

A patch of the series may change a file that an earlier patch of the series
added from the overlay (e.g. a later fix to drivers/iommu/reset.rs). The
overlay holds such files in their final state, so a tree prepared from the
base, the patches and the overlay must not apply those parts: this filter
removes them. Reads the patch on stdin, writes the rest on stdout.

Usage: patch-filter.py LIST < patch    (LIST: file of overlay paths, one a line)
"""

import re
import sys


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        drop = {line.strip() for line in f if line.strip()}
    keep = True
    out = sys.stdout
    for line in sys.stdin:
        m = re.match(r'^diff --git a/(\S+) b/(\S+)', line)
        if m:
            keep = m.group(1) not in drop and m.group(2) not in drop
        elif line.startswith('-- ') or line == '--\n':
            keep = True     # the signature after the last diff
        if keep:
            out.write(line)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
