#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Unit tests of issue 27 item 7: splats and hangs are results.

Synthetic console logs, shaped like the recorded ones (a printk timestamp
on every kernel line, SeaBIOS's terminal control sequences first).
"""

import contextlib
import io
import os
import tempfile
import unittest
from contextlib import redirect_stdout

import console_scan as c

RING = 128 * 1024          # the guest's printk ring (CONFIG_LOG_BUF_SHIFT=17)
# The guest's own scan (tools/harness/guest/init), for comparison.
GUEST_RE = ('WARNING:', 'BUG:', 'Oops', 'blocked for more than', 'possible recursive locking',
            'possible circular locking', 'inconsistent lock state', 'suspicious RCU')


def k(t, msg):
    return '[%12.6f] %s\n' % (t, msg)


def boot(n=50):
    lines = ['\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS (version 1.16.3)\n', 'Booting from ROM...\n',
             '\x1bc\x1b[?7l\x1b[2J' + k(0, 'Linux version 7.3.4')]
    return lines + [k(0.01 * i, 'pci 0000:01:00.0: line %d of an ordinary boot' % i)
                    for i in range(n)]


def filler(t0, size):
    """Ordinary kernel lines (KUnit output, as in the recorded logs), size bytes."""
    out, n = [], 0
    while n < size:
        line = k(t0 + len(out) * 0.001, '    ok %d rust_doctest_kernel_alloc_kvec_rs_%d'
                 % (len(out), len(out)))
        out.append(line)
        n += len(line)
    return out


KASAN = [k(3.1, '=================================================================='),
         k(3.1, 'BUG: KASAN: slab-use-after-free in rust_dma_reset_unbind+0x1e/0x40'),
         k(3.1, 'Read of size 8 at addr ff11000005846580 by task sh/828')]
SPLAT = [k(36.1, 'iommu_reset selftest: expected splat begin'),
         k(36.2, '------------[ cut here ]------------'),
         k(36.2, 'WARNING: drivers/iommu/iommu.c:4193 at pci_dev_reset_iommu_done+0x566/0x640'),
         k(36.2, '---[ end trace 0000000000000000 ]---'),
         k(36.3, 'iommu_reset selftest: expected splat end')]
HUNG = [k(33.1, 'INFO: task tmpcompose:830 blocked for more than 20 seconds.'),
        k(33.1, '      Tainted: G           O     N  7.3.4 #3'),
        k(33.1, '"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.')]


def statuses(lines, **kw):
    return [st for st, _ in c.results('ours/legacy/full', lines, **kw) if st != '#']


class Scan(unittest.TestCase):
    def test_clean_boot(self):
        self.assertEqual(c.results('x', boot()), [('ok', 'x: console clean')])

    def test_kasan_early_in_a_long_log(self):
        # A KASAN report 3 s into a boot whose kernel log then grows past the
        # 128 KiB ring: the guest's dmesg at the end no longer has it.
        lines = boot() + KASAN + filler(4.0, 2 * RING)
        ring = ''.join(lines)[-RING:]
        self.assertFalse(any(p in ring for p in GUEST_RE))
        out = c.results('ours/legacy/full', lines)
        self.assertEqual(out[0], ('fail', 'ours/legacy/full: console: [    3.100000] BUG: '
                                  'KASAN: slab-use-after-free in rust_dma_reset_unbind+0x1e/'
                                  '0x40'))
        self.assertIn(('#', 'console.log:%d: %s' % (len(boot()) + 2, KASAN[1].rstrip())), out)

    def test_expected_splat_on_the_baseline(self):
        lines = boot() + SPLAT + filler(40, 1000)
        self.assertEqual(statuses(lines, baseline=True), ['ok'])

    def test_expected_splat_region_on_ours_fails(self):
        # The same markers on a patched kernel: nothing is expected there.
        lines = boot() + SPLAT + filler(40, 1000)
        out = c.results('ours/legacy/full', lines)
        self.assertEqual(out[0][0], 'fail')
        self.assertIn('console: [   36.200000] WARNING: drivers/iommu/iommu.c:4193', out[0][1])

    def test_splat_outside_the_region_on_the_baseline(self):
        lines = boot() + SPLAT + [k(40, 'WARNING: kernel/locking/lockdep.c:123 at foo')]
        out = c.results('upstream/legacy/full', lines, baseline=True)
        self.assertEqual(out[0][0], 'fail')
        self.assertIn('lockdep.c:123', out[0][1])

    def test_markers_must_be_exact(self):
        # A line that only mentions the marker does not open a region.
        lines = boot() + [k(1, 'sh: echo iommu_reset selftest: expected splat begin failed'),
                          k(2, 'WARNING: foo')]
        self.assertEqual(statuses(lines, baseline=True), ['fail'])

    def test_unclosed_region_fails(self):
        lines = boot() + SPLAT[:3]
        out = c.results('upstream/legacy/full', lines, baseline=True)
        self.assertEqual(out[0][0], 'fail')
        self.assertIn('never ended', out[0][1])

    def test_hung_task(self):
        out = c.results('ours/legacy/full', boot() + HUNG)
        self.assertEqual(out[0], ('fail', 'ours/legacy/full: console: [   33.100000] INFO: task '
                                  'tmpcompose:830 blocked for more than 20 seconds.'))

    def test_each_kind(self):
        for msg in ('BUG: KASAN: wild-memory-access in foo',
                    'UBSAN: array-index-out-of-bounds in drivers/iommu/iommu.c:10:5',
                    'WARNING: possible recursive locking detected',
                    'WARNING: possible circular locking dependency detected',
                    'WARNING: inconsistent lock state',
                    'WARNING: suspicious RCU usage',
                    'BUG: kernel NULL pointer dereference, address: 0000000000000008',
                    'Oops: general protection fault, probably for non-canonical address',
                    'Kernel panic - not syncing: Fatal exception',
                    'rcu: INFO: rcu_sched self-detected stall on CPU',
                    'rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:',
                    'INFO: task kworker/0:1:12 blocked for more than 122 seconds.'):
            self.assertEqual(statuses(boot() + [k(5, msg)]), ['fail'], msg)

    def test_no_false_alarm(self):
        for msg in ('iommu_reset selftest: injected report: DMAR: QI HEAD: Invalidation '
                    'Time-out Error (ITE) cleared',
                    'workqueue: work func foo enqueued on deprecated work',
                    '    ok 3 access_needs_the_same_device',
                    'Oopsie is not a word the kernel prints'):
            self.assertEqual(statuses(boot() + [k(5, msg)]), ['ok'], msg)

    def test_first_line_and_count(self):
        lines = boot() + KASAN + HUNG
        out = c.results('x', lines)
        self.assertTrue(out[0][1].endswith('(and 1 more)'))
        self.assertNotIn('#', out[0][1])


class Hung(unittest.TestCase):
    def test_hung_boot_is_a_failure_with_its_tail(self):
        # run-vm.sh stopped the boot (no output for minutes): a failure with
        # the console's last line, whatever the retry does.
        # (A line with a timestamp only is no tail.)
        lines = boot() + [k(20, 'pci 0000:02:00.0: resetting'), k(20.5, ''), '\r\n']
        out = c.results('ours/legacy/full (boot 1 of 2)', lines, hung=True)
        self.assertEqual(out[0], ('fail', 'ours/legacy/full (boot 1 of 2): boot hung (stopped '
                                  'by run-vm.sh): console tail: [   20.000000] pci 0000:02:00.0:'
                                  ' resetting'))
        self.assertEqual(len([x for x in out if x[0] == '#']), c.TAIL_LINES)
        # The scan of its console is a result of its own.
        self.assertEqual(out[-1], ('ok', 'ours/legacy/full (boot 1 of 2): console clean'))

    def test_hung_boot_with_a_stall(self):
        lines = boot() + [k(60, 'rcu: INFO: rcu_sched detected stalls on CPUs/tasks:'),
                          k(60, 'RIP: 0010:qi_submit_sync+0x2f1/0x8a0')]
        out = [x for x in c.results('x', lines, hung=True) if x[0] != '#']
        self.assertEqual([x[0] for x in out], ['fail', 'fail'])
        self.assertIn('qi_submit_sync', out[0][1])
        self.assertIn('detected stalls', out[1][1])


class Cli(unittest.TestCase):
    def run_cli(self, lines, *flags):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, 'console.log')
            if lines is not None:
                with open(path, 'w') as f:
                    f.writelines(lines)
            out = io.StringIO()
            with redirect_stdout(out):
                rc = c.main(list(flags) + ['upstream/legacy/full', path])
        return rc, out.getvalue().splitlines()

    def test_baseline_flag(self):
        self.assertEqual(self.run_cli(boot() + SPLAT, '--baseline')[1],
                         ['ok\tupstream/legacy/full: console clean'])
        rc, out = self.run_cli(boot() + SPLAT)
        self.assertEqual(rc, 0)
        self.assertTrue(out[0].startswith('fail\tupstream/legacy/full: console: '))

    def test_missing_console_fails(self):
        rc, out = self.run_cli(None)
        self.assertEqual(rc, 0)
        self.assertTrue(out[0].startswith('fail\tupstream/legacy/full: console log missing'))

    def test_usage(self):
        with redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            self.assertEqual(c.main(['--bogus', 'a', 'b']), 2)


if __name__ == '__main__':
    unittest.main()
