#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""What a hung guest was doing, read through QEMU's monitor before the
harness kills it (run-vm.sh, VT-d modes): the vCPUs' instruction pointers
as kernel symbols, the VT-d registers of the invalidation queue, the
descriptors from the queue's head on, and the status word of each wait
descriptor among them.

A guest spinning in qi_submit_sync() waits for the status word of its wait
descriptor. What the dump tells apart (issue 27 item 7):
  - the descriptors the guest wrote reach past QEMU's tail (IQT): the
    guest's write of IQT never reached the IOMMU (the emulator lost it);
  - IQT covers them, IQH == IQT, and the status word is still "in use" (1):
    QEMU processed the wait descriptor but did not write its status;
  - IQH != IQT, or FSTS shows a queue error (IQE, ITE): the queue stopped.

Usage: hang_dump.py MONITOR_SOCKET SYSTEM_MAP
"""

import bisect
import re
import sys

from host_agent import ANSI_RE, monitor

IOMMU = 0xfed90000          # QEMU q35's VT-d register page
REGS = (('GSTS', 0x1c, 'w'), ('FSTS', 0x34, 'w'), ('IQH', 0x80, 'g'),
        ('IQT', 0x88, 'g'), ('IQA', 0x90, 'g'))
FSTS_BITS = ((0, 'PFO'), (1, 'PPF'), (4, 'IQE'), (5, 'ICE'), (6, 'ITE'))
QI_WAIT = 0x5
QI_WAIT_SW = 1 << 5
DESCS = 8


def hmp(sock, cmd):
    """The monitor's answer to one command, without the echo and the prompt."""
    out = ANSI_RE.sub('', monitor(sock, cmd)).replace('\r', '')
    out = out.rsplit(cmd, 1)[-1]
    return out.split('(qemu)')[0].strip()


def words(answer):
    """The values of an "xp" answer ("ADDR: 0x... 0x...")."""
    return [int(v, 16) for line in answer.splitlines() if ':' in line
            for v in line.split(':', 1)[1].split()]


class Symbols:
    def __init__(self, path):
        self.addrs, self.names = [], []
        try:
            with open(path) as f:
                for line in f:
                    a, t, name = line.split()[:3]
                    if t in 'tTwW':
                        self.addrs.append(int(a, 16))
                        self.names.append(name)
        except OSError:
            pass
        order = sorted(range(len(self.addrs)), key=self.addrs.__getitem__)
        self.addrs = [self.addrs[i] for i in order]
        self.names = [self.names[i] for i in order]

    def __call__(self, addr):
        i = bisect.bisect_right(self.addrs, addr) - 1
        if i < 0:
            return '?'
        return '%s+0x%x' % (self.names[i], addr - self.addrs[i])


def main(argv):
    if len(argv) != 3:
        sys.exit('usage: hang_dump.py MONITOR_SOCKET SYSTEM_MAP')
    sock, sym = argv[1], Symbols(argv[2])
    regs = hmp(sock, 'info registers -a')
    for cpu, rip, eflags in re.findall(r'CPU#(\d+).*?RIP=([0-9a-f]+).*?RFL=([0-9a-f]+)',
                                       regs, re.S):
        rip = int(rip, 16)
        print('cpu%s: RIP %s (0x%x), interrupts %s' % (
            cpu, sym(rip), rip, 'on' if int(eflags, 16) & 0x200 else 'off'))
    val = {}
    for name, off, width in REGS:
        v = words(hmp(sock, 'xp /1%sx 0x%x' % (width, IOMMU + off)))
        val[name] = v[0] if v else None
        print('%s 0x%x' % (name, val[name]) if v else '%s unreadable' % name)
    if val.get('FSTS') is not None:
        print('FSTS bits: %s' % (' '.join(n for b, n in FSTS_BITS if val['FSTS'] >> b & 1)
                                 or 'none'))
    if None in (val.get('IQA'), val.get('IQH'), val.get('IQT')):
        return 0
    base = val['IQA'] & ~0xfff
    wide = bool(val['IQA'] & (1 << 11))    # 256-bit descriptors
    size = 32 if wide else 16
    entries = (0x1000 << (val['IQA'] & 7)) // size
    head = (val['IQH'] & 0x7fff0) // size
    tail = (val['IQT'] & 0x7fff0) // size
    print('queue at 0x%x, %d-bit descriptors, %d entries, head %d, tail %d' % (
        base, size * 8, entries, head, tail))
    for k in range(DESCS):
        i = (head + k) % entries
        d = words(hmp(sock, 'xp /%dgx 0x%x' % (size // 8, base + i * size)))
        if len(d) < 2:
            break
        what = 'type %d' % (d[0] & 0xf)
        if d[0] & 0xf == QI_WAIT and d[0] & QI_WAIT_SW:
            st = words(hmp(sock, 'xp /1wx 0x%x' % (d[1] & ~3)))
            what = 'wait, status at 0x%x = %s' % (d[1] & ~3, st[0] if st else '?')
        where = 'before the tail' if (i - head) % entries < (tail - head) % entries else \
            'at or past the tail'
        print('desc %d (%s): %s: %s' % (i, where, ' '.join('0x%016x' % w for w in d), what))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
