#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Unit tests of hang_dump.py on the monitor's answers of a hung boot (the
one README.md shows: the queue's tail store lost by the emulator)."""

import io
import os
import tempfile
import unittest
from contextlib import redirect_stdout

import hang_dump

REGS = ('CPU#0\nRAX=0000000000000001 RBX=0\nRIP=ffffffff81973788 RFL=00000046 [---Z-P-] CPL=0\n'
        'CPU#1\nRAX=0000000000000000\nRIP=ffffffff81b56f54 RFL=00000286 [--S--P-] CPL=0\n')
MEM = {0xfed9001c: [0xc7000000], 0xfed90034: [0x0], 0xfed90080: [0xee0],
       0xfed90088: [0xee0], 0xfed90090: [0x283000],
       0x283ee0: [0x900f2, 0xfffff040], 0x283ef0: [0x20000000003, 0xfffff000],
       0x283f00: [0x200000025, 0x2703c0], 0x2703c0: [1]}


def fake_monitor(sock, cmd):
    if cmd == 'info registers -a':
        answer = REGS
    else:
        addr = int(cmd.split()[-1], 16)
        vals = MEM.get(addr, [0, 0])
        answer = '%016x: %s' % (addr, ' '.join('0x%x' % v for v in vals))
    return 'QEMU monitor\r\n(qemu) %s\r\n%s\r\n(qemu) ' % (cmd, answer.replace('\n', '\r\n'))


class HangDump(unittest.TestCase):
    def run_dump(self):
        with tempfile.TemporaryDirectory() as tmp:
            smap = os.path.join(tmp, 'System.map')
            with open(smap, 'w') as f:
                f.write('ffffffff81972e20 T qi_submit_sync\n'
                        'ffffffff81b56e50 T queued_spin_lock_slowpath\n'
                        'ffffffff81b57000 t other\n')
            out = io.StringIO()
            saved, hang_dump.monitor = hang_dump.monitor, fake_monitor
            try:
                with redirect_stdout(out):
                    rc = hang_dump.main(['hang_dump.py', 'sock', smap])
            finally:
                hang_dump.monitor = saved
        self.assertEqual(rc, 0)
        return out.getvalue()

    def test_lost_tail_store(self):
        out = self.run_dump()
        self.assertIn('cpu0: RIP qi_submit_sync+0x968 (0xffffffff81973788), interrupts off', out)
        self.assertIn('cpu1: RIP queued_spin_lock_slowpath+0x104', out)
        self.assertIn('FSTS bits: none', out)
        self.assertIn('queue at 0x283000, 128-bit descriptors, 256 entries, head 238, tail 238',
                      out)
        self.assertIn('desc 240 (at or past the tail): 0x0000000200000025 0x00000000002703c0: '
                      'wait, status at 0x2703c0 = 1', out)


if __name__ == '__main__':
    unittest.main()
