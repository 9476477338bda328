#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Unit tests of the oracle's "blocks" expectation (issue 27 item 5): an
alias peer's blocking is seen in the trace, not only in the IOMMU core's
flag. The alias-block row used to come from that flag alone: a tree whose
core marked the peer blocked without the IOMMU driver ever blocking it
(no flush of its device-IOTLB, ATS left on) passed.
"""

import unittest

import iommu_reset_oracle as o
from test_oracle import cfg, ts

FN0 = '0000:01:00.0'
FN1 = '0000:01:00.1'
DEVS = {b: o.DevInfo(b, exp=0x40, pm=0x80, ats=0x100, bridge='0000:00:02.0')
        for b in (FN0, FN1)}
SID = {FN0: 0x100, FN1: 0x101}
WHOLE_HI = 0x7ffffffffffff001


def flush(us, bdf):
    return '%svtd_inv_desc invalidate desc type device high 0x%x low 0x%x\n' % (
        ts(us), WHOLE_HI, (SID[bdf] << 32) | 3)


def verdict(lines, baseline=False):
    oracle = o.Oracle(DEVS, 100000, 0.0)
    oracle.feed([cfg(0, '00:00.0', 0x3c, 50, 'mch')] + lines +
                [cfg(900000, '00:00.0', 0x3c, 51, 'mch')])
    rows = oracle.finish().summary()
    e = {'phase': 50, 'name': 'alias-block-flush', 'bdf': FN1, 'expect': 'blocks',
         'gap': 'alias-blocking', 'ref': FN0}
    return o.check(rows, [e], baseline=baseline)[0][:2]


class AliasPeerBlocked(unittest.TestCase):

    def test_both_blocked(self):
        st, why = verdict([flush(1000, FN0), flush(1200, FN1)])
        self.assertEqual(st, 'ok', why)

    def test_peer_left_alone_fails(self):
        st, why = verdict([flush(1000, FN0)])
        self.assertEqual(st, 'fail', why)
        self.assertIn('blocked in the trace 0 times', why)

    def test_peer_ats_disable_counts(self):
        # VT-d legacy mode: blocking turns ATS off.
        st, why = verdict([flush(1000, FN0), cfg(1100, '01:00.1', 0x106, 0x0)])
        self.assertEqual(st, 'ok', why)

    def test_baseline_shows_it(self):
        self.assertEqual(verdict([flush(1000, FN0)], baseline=True)[0], 'xfail')
        self.assertEqual(verdict([flush(1000, FN0), flush(1200, FN1)], baseline=True)[0],
                         'fail')

    def test_no_blocking_of_the_reference_is_blind(self):
        st, why = verdict([])
        self.assertEqual(st, 'blind', why)
        self.assertIn('no blocking of %s' % FN0, why)

    def test_expectation_parsed(self):
        _, exp = o.parse_console(['# oracle-expect phase=50 name=alias-block-flush bdf=%s '
                                  'expect=blocks gap=alias-blocking ref=%s\n' % (FN1, FN0)])
        self.assertEqual((exp[0]['expect'], exp[0]['gap'], exp[0]['ref']),
                         ('blocks', 'alias-blocking', FN0))


if __name__ == '__main__':
    unittest.main()
