#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Unit tests of the oracle's attach observable (issue 27 item 1): a domain
change that reaches a function while it sleeps in D3hot shows in the trace
as a flush of its whole device-IOTLB inside its power-management window.

The 7.3 baseline's attach-deferred row was read from a sysfs file that only
the patched tree has (so it "showed" the gap whatever the kernel did); these
cases judge the attach itself, apart from the load's invalidations of ranges
that also reach a function left unblocked in D3hot (the runtime-pm row).
"""

import unittest

import iommu_reset_oracle as o
from test_oracle import cfg, ts

FN = '0000:01:00.0'
DEV = o.DevInfo(FN, exp=0x40, pm=0x80, ats=0x100, bridge='0000:00:02.0')
SID = 0x100
WHOLE_HI = 0x7ffffffffffff001   # S set, address bits 62:12 all ones


def inv(us, hi=0x0):
    return '%svtd_inv_desc invalidate desc type device high 0x%x low 0x%x\n' % (
        ts(us), hi, (SID << 32) | 3)


def sleep_phase(phase, inside, before=()):
    """A D3hot window [100 ms, 300 ms + 10 ms] with the given invalidations."""
    return ([cfg(0, '00:00.0', 0x3c, phase, 'mch'), inv(50000)] + list(before) +
            [cfg(100000, '01:00.0', 0x84, 0x3)] + inside +
            [cfg(300000, '01:00.0', 0x84, 0x0), inv(400000)])


def verdict(lines, expect, baseline=False, gap=None):
    oracle = o.Oracle({FN: DEV}, 100000, 0.0)
    oracle.feed(lines)
    rows = oracle.finish().summary()
    e = {'phase': 32, 'name': 'attach-while-asleep', 'bdf': FN, 'expect': expect, 'gap': gap}
    return o.check(rows, [e], baseline=baseline)[0][:2]


class AttachWhileAsleep(unittest.TestCase):

    def test_deferred_attach_passes(self):
        # Only the flush of blocking, before the window, and no domain change in it.
        st, why = verdict(sleep_phase(32, [], [inv(90000, WHOLE_HI)]), 'no-attach')
        self.assertEqual(st, 'ok', why)

    def test_attach_in_window_fails(self):
        st, why = verdict(sleep_phase(32, [inv(200000, WHOLE_HI)]), 'no-attach')
        self.assertEqual(st, 'fail', why)
        self.assertIn('1 flushes of the whole device-IOTLB', why)

    def test_load_in_window_is_not_an_attach(self):
        # The load's invalidations of a range reach the unblocked function
        # (runtime-pm's row): not a domain change.
        st, why = verdict(sleep_phase(32, [inv(150000), inv(160000)]), 'no-attach')
        self.assertEqual(st, 'ok', why)

    def test_baseline_without_the_attach_is_not_shown(self):
        # 7.3's row used to be XFAIL from a missing sysfs file; a trace in
        # which no domain change reached the sleeping function does not show it.
        st, why = verdict(sleep_phase(32, [inv(150000)]), 'no-attach', baseline=True,
                          gap='power-unfenced')
        self.assertEqual(st, 'fail', why)
        self.assertIn('not reproduced', why)

    def test_baseline_with_the_attach_is_shown(self):
        st, why = verdict(sleep_phase(32, [inv(200000, WHOLE_HI)]), 'no-attach',
                          baseline=True, gap='power-unfenced')
        self.assertEqual(st, 'xfail', why)

    def test_negative_control(self):
        self.assertEqual(verdict(sleep_phase(32, [inv(200000, WHOLE_HI)]),
                                 'attach-reaches')[0], 'ok')
        self.assertEqual(verdict(sleep_phase(32, [inv(150000)]), 'attach-reaches')[0], 'fail')

    def test_no_window_is_blind(self):
        lines = [cfg(0, '00:00.0', 0x3c, 32, 'mch'), inv(200000, WHOLE_HI)]
        self.assertEqual(verdict(lines, 'no-attach')[0], 'blind')

    def test_expectation_parsed(self):
        _, exp = o.parse_console(['# oracle-expect phase=32 name=attach-while-asleep bdf=%s '
                                  'expect=no-attach gap=power-unfenced\n' % FN])
        self.assertEqual((exp[0]['expect'], exp[0]['gap']), ('no-attach', 'power-unfenced'))


if __name__ == '__main__':
    unittest.main()
