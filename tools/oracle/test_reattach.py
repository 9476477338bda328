#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Unit tests of issue 27 item 5: "clean" also means re-attached.

A function that prepare() blocks and done() never unblocks gets no
device-IOTLB invalidation inside its windows, nor anywhere after them: the
windows alone pass it. Each trace below is synthetic, shaped like the
recorded ones: a load of one-page invalidations, and before each reset the
flush of the whole device-IOTLB that blocking sends. The first ones are
judged clean by the old rule (no invalidation in a window, ATS off before
every reset in VT-d legacy mode) and must now fail or pass on what comes
after the last window.
"""

import json
import unittest

import iommu_reset_oracle as o
from test_evidence import cli as evidence_cli

FN = '0000:02:00.0'
SID = 0x200
MATE = 0x100          # 01:00.0, another function, under load all along
DEV = o.DevInfo(FN, exp=0x40, pm=0x80, ats=0x100, bridge='0000:00:03.0')
DESCRIBE = '# oracle-dev bdf=%s exp=0x40 pm=0x80 ats=0x100 bridge=0000:00:03.0\n' % FN


def ts(us):
    return '1@%d.%06d:' % (100 + us // 1000000, us % 1000000)


def cfg(us, bdf, off, val, name='dev'):
    return '%spci_cfg_write %s %s @0x%x <- 0x%x\n' % (ts(us), name, bdf, off, val)


def inv(us, sid=SID, high=0xfffff000):
    """A Device-TLB Invalidate of one page (a DMA unmap under load)."""
    return '%svtd_inv_desc invalidate desc type device high 0x%x low 0x%x\n' % (
        ts(us), high, (sid << 32) | 3)


def flush(us, sid=SID):
    """The whole device-IOTLB, as blocking the function flushes it (recorded)."""
    return inv(us, sid, 0x7ffffffffffff001)


def piotlb(us, sid=SID, high=0x0):
    """PASID-based Device-TLB Invalidate: source-id in bits 31:16."""
    return '%svtd_inv_desc invalidate desc type device-piotlb high 0x%x low 0x%x\n' % (
        ts(us), high, (0x5 << 32) | (sid << 16) | 8)


def marker(us, phase):
    return cfg(us, '00:00.0', 0x3c, phase, 'mch')


def load(start, end, sid=SID, step=10000):
    """A device-IOTLB invalidation for sid every step us in [start, end)."""
    return [inv(t, sid) for t in range(start, end, step)]


def flr(us, legacy=True):
    """A reset through the helpers: the flush of blocking, ATS off in VT-d
    legacy mode, then the FLR."""
    pre = [flush(us - 800)] + ([cfg(us - 500, '02:00.0', 0x106, 0x0)] if legacy else [])
    return pre + [cfg(us, '02:00.0', 0x48, 0x8000)]


def ats_on(us):
    return [cfg(us, '02:00.0', 0x106, 0x8000)]


def by_time(lines):
    return sorted(lines, key=lambda l: l.split(':', 1)[0])


def trace(legacy=True, reattached=True, phase_end=1000000):
    """Phase 1: load on FN from the start, two FLRs (windows of 100 ms), the
    function unblocked after the first; after the second, re-attached (its
    invalidations resume) or blocked for good (they never do, while the
    mate's go on). Phase 2 starts at phase_end."""
    lines = [marker(0, 1)] + load(1000, 99000) + flr(100000, legacy)
    # Blocked during the window: nothing for FN. Unblocked after it.
    lines += (ats_on(210000) if legacy else []) + load(215000, 295000)
    lines += flr(300000, legacy)
    if reattached:
        lines += (ats_on(410000) if legacy else []) + load(415000, phase_end)
    lines += load(0, phase_end + 200000, MATE)
    # The next phase: FN gets invalidations again (too late for phase 1).
    lines += [marker(phase_end, 2)] + load(phase_end + 10000, phase_end + 100000)
    return by_time(lines)


def rows_of(lines, devs=(DEV,), amd_function=None):
    oracle = o.Oracle({d.bdf: d for d in devs}, 100000, 0.0)
    oracle.feed(lines, amd_function)
    return {(r['phase'], r['bdf']): r for r in oracle.finish().summary()}


def clean(phase=1, gap=None, bdf=FN):
    return {'phase': phase, 'name': 'sysfs-flr', 'bdf': bdf, 'expect': 'clean', 'gap': gap}


def judge(lines, legacy=True, baseline=False, expects=None, devs=(DEV,)):
    """(status, description) of the clean expectation, and the notes."""
    rows = sorted(rows_of(lines, devs).values(), key=lambda r: (r['phase'], r['bdf']))
    notes = []
    out = o.check(rows, expects or [clean()], require_ats_off=legacy, baseline=baseline,
                  ats_observable=legacy, notes=notes)
    return out[0][0], out[0][1], notes


def old_rule(row, legacy):
    """The clean verdict before item 5: the windows (and ATS) only."""
    ok = row['inv_in_windows'] == 0
    if legacy:
        ok = ok and row['ats_off_before'] == row['resets']
    return ok


def cli(lines, console, *flags):
    """(exit status, stdout, the ORACLE-JSON document) of the oracle's command line."""
    rc, out = evidence_cli(lines, console, *flags)
    js = next(l for l in out.splitlines() if l.startswith('ORACLE-JSON'))
    return rc, out, json.loads(js.split(' ', 1)[1])


EXPECT = '# oracle-expect phase=1 name=sysfs-flr bdf=%s expect=clean\n' % FN


class BlockedForGood(unittest.TestCase):
    """The function is never unblocked after its last reset: the old rule
    passes it, the new one fails it, in both VT-d modes."""

    def check_mode(self, legacy):
        lines = trace(legacy=legacy, reattached=False)
        row = rows_of(lines)[(1, FN)]
        self.assertEqual((row['resets'], row['inv_in_windows']), (2, 0))
        self.assertTrue(old_rule(row, legacy))
        # The flushes of blocking are no load.
        self.assertEqual((row['load_before_first'], row['load_between'],
                          row['load_before_last'], row['inv_after_last']), (10, 8, 8, 0))
        st, why, _ = judge(lines, legacy)
        self.assertEqual(st, 'fail')
        self.assertIn('not re-attached: no device-IOTLB invalidation for %s after its last '
                      'reset (load: 10 before its first, 8 between, 8 just before the last)'
                      % FN, why)

    def test_legacy(self):
        self.check_mode(True)

    def test_scalable(self):
        self.check_mode(False)

    def test_cli(self):
        for flags in (('--require-ats-off',), ('--scalable',)):
            rc, out, js = cli(trace(legacy=flags[0] != '--scalable', reattached=False),
                              [DESCRIBE, EXPECT], *flags)
            self.assertEqual(rc, 1)
            self.assertIn('FAIL: oracle: phase 1 sysfs-flr on %s' % FN, out)
            self.assertIn('not re-attached', out)
            row = next(r for r in js['rows'] if (r['phase'], r['bdf']) == (1, FN))
            self.assertEqual(row['inv_after_last'], 0)

    def test_blocked_from_the_first_reset(self):
        # Never unblocked after the first of three resets: only the flush of
        # blocking before each later one (if any), no load after the first.
        lines = by_time([marker(0, 1)] + load(1000, 99000) + flr(100000) +
                        [flush(299200), cfg(300000, '02:00.0', 0x48, 0x8000),
                         flush(499200), cfg(500000, '02:00.0', 0x48, 0x8000)] +
                        load(0, 900000, MATE) + [marker(900000, 2)])
        row = rows_of(lines)[(1, FN)]
        self.assertTrue(old_rule(row, True))
        self.assertEqual((row['load_between'], row['load_before_last']), (0, 0))
        self.assertEqual(judge(lines)[0], 'fail')

    def test_next_phase_does_not_count(self):
        # FN's invalidations come back only after the phase marker: too late.
        lines = trace(reattached=False)
        self.assertGreater(rows_of(lines)[(2, FN)]['inv_total'], 0)
        self.assertEqual(judge(lines)[0], 'fail')


class Reattached(unittest.TestCase):
    def test_both_modes_pass(self):
        for legacy in (True, False):
            lines = trace(legacy=legacy)
            row = rows_of(lines)[(1, FN)]
            self.assertEqual(row['inv_after_last'], 59)
            st, why, notes = judge(lines, legacy)
            self.assertEqual(st, 'ok', why)
            self.assertIn('59 after the last', why)
            self.assertEqual(notes, [])

    def test_cli(self):
        rc, out, js = cli(trace(), [DESCRIBE, EXPECT], '--require-ats-off')
        self.assertEqual(rc, 0)
        self.assertIn('PASS: oracle: phase 1 sysfs-flr on %s' % FN, out)
        row = next(r for r in js['rows'] if (r['phase'], r['bdf']) == (1, FN))
        self.assertEqual(row['inv_after_last'], 59)
        # The table shows the count too.
        self.assertIn('after last', out.splitlines()[0])

    def test_one_invalidation_is_enough(self):
        # Up to the end of the trace (the last phase has no marker after it).
        lines = by_time([marker(0, 1)] + load(1000, 99000) + flr(100000) + ats_on(210000) +
                        [inv(900000)])
        self.assertEqual(judge(lines)[0], 'ok')

    def test_pasid_descriptor_counts(self):
        # QEMU 10's PASID-based Device-TLB Invalidate (source-id bits 31:16).
        lines = by_time([marker(0, 1)] + load(1000, 99000) + flr(100000, False) +
                        [piotlb(300000)])
        self.assertEqual(rows_of(lines)[(1, FN)]['inv_after_last'], 1)
        self.assertEqual(judge(lines, legacy=False)[0], 'ok')

    def test_right_after_the_window(self):
        # The window is [100 ms, 200 ms]: 200 ms is in it, 200.001 ms after it.
        base = [marker(0, 1)] + load(1000, 99000) + flr(100000, False)
        self.assertEqual(judge(by_time(base + [inv(200000)]), legacy=False)[0], 'fail')
        self.assertEqual(judge(by_time(base + [inv(200001)]), legacy=False)[0], 'ok')

    def test_after_a_later_window_of_another_kind(self):
        # An FLR, then a PM reset (D3hot..D0 + 10 ms) whose window ends last:
        # only what follows that one counts.
        lines = by_time([marker(0, 1)] + load(1000, 99000) + flr(100000, False) +
                        [inv(250000), cfg(300000, '02:00.0', 0x84, 3), inv(305000),
                         cfg(320000, '02:00.0', 0x84, 0), inv(325000)])
        row = rows_of(lines)[(1, FN)]
        self.assertEqual((row['load_between'], row['inv_after_last'], row['inv_in_windows']),
                         (1, 0, 2))
        lines = by_time(lines + [inv(331000)])
        self.assertEqual(rows_of(lines)[(1, FN)]['inv_after_last'], 1)

    def test_amd(self):
        # AMD-Vi: every amdvi_iotlb_inval is the one ATS function's.
        lines = [marker(0, 1), '%samdvi_iotlb_inval \n' % ts(1000),
                 cfg(100000, '02:00.0', 0x48, 0x8000), '%samdvi_iotlb_inval \n' % ts(300000)]
        row = rows_of(lines, amd_function=FN)[(1, FN)]
        self.assertEqual((row['load_before_first'], row['inv_after_last']), (1, 1))


class NotJudged(unittest.TestCase):
    """The phases in which the trace cannot show the function re-attached."""

    def test_load_stopped_before_the_last_reset(self):
        # Resets under load, then more resets without it (reset_sample.sh's
        # phase 10 ends with sysfs resets while the sample binds and unbinds):
        # the flush of blocking before the last one is no load. A note, not a
        # failure.
        lines = by_time([marker(0, 1)] + flr(100000, False) + load(215000, 295000) +
                        flr(300000, False) + flr(500000, False) + [marker(1000000, 2)])
        row = rows_of(lines)[(1, FN)]
        self.assertEqual((row['load_between'], row['load_before_last']), (8, 0))
        st, why, notes = judge(lines, legacy=False)
        self.assertEqual(st, 'ok', why)
        self.assertEqual(len(notes), 1)
        self.assertIn('re-attachment not judged: the load stopped before the last reset',
                      notes[0])
        rc, out, _ = cli(lines, [DESCRIBE, EXPECT], '--scalable')
        self.assertEqual(rc, 0)
        self.assertIn('note: oracle: phase 1 sysfs-flr on %s: re-attachment not judged' % FN,
                      out)

    def test_load_that_began_with_the_resets_must_show(self):
        # The sample's reset loop: workers start with the resets, so none
        # before the first; they ran into the last reset, so the function must
        # show that it came back.
        lines = by_time([marker(0, 1)] + flr(100000, False) + load(215000, 295000) +
                        flr(300000, False) + [marker(1000000, 2)])
        self.assertEqual(judge(lines, legacy=False)[0], 'fail')
        lines = by_time(lines + [inv(420000)])
        self.assertEqual(judge(lines, legacy=False)[0], 'ok')

    def test_phase_ended_inside_the_last_window(self):
        lines = by_time([marker(0, 1)] + load(1000, 99000) + flr(100000, False) +
                        [marker(150000, 2)] + load(210000, 400000))
        row = rows_of(lines)[(1, FN)]
        self.assertTrue(row['ended_in_window'])
        st, _, notes = judge(lines, legacy=False)
        self.assertEqual(st, 'ok')
        self.assertIn('the phase ended inside the last reset window', notes[0])

    def test_no_traffic_outside_windows_fails(self):
        # Resets, clean windows, and never a device-IOTLB invalidation for the
        # function outside them: not seen attached in the phase at all.
        lines = by_time([marker(0, 1)] + flr(100000) + flr(300000) + load(0, 600000, MATE) +
                        [marker(600000, 2)])
        row = rows_of(lines)[(1, FN)]
        self.assertTrue(old_rule(row, True))
        st, why, notes = judge(lines)
        self.assertEqual((st, notes), ('fail', []))
        self.assertIn('(load: 0 before its first, 0 between, 0 just before the last)', why)


class WholeFlush(unittest.TestCase):
    def test_descriptors(self):
        # Recorded: blocking's flush, and one-page invalidations under load.
        self.assertTrue(o.whole_flush('device', 0x7ffffffffffff001))
        self.assertFalse(o.whole_flush('device', 0xfffff000))
        self.assertFalse(o.whole_flush('device', 0xfffe0000))
        # S set, a range of 8 KiB: load.
        self.assertFalse(o.whole_flush('device', 0xfffff001))
        # PASID-based: S is bit 11.
        self.assertTrue(o.whole_flush('device-piotlb', 0xfffffffffffff800))
        self.assertFalse(o.whole_flush('device-piotlb', 0x7ffffffffffff000))
        self.assertFalse(o.whole_flush('device-piotlb', 0x1000))

    def test_flush_after_the_last_window_counts(self):
        # Any invalidation after the last window shows the function attached
        # (a blocked one gets none), a flush of the whole device-IOTLB too.
        lines = by_time([marker(0, 1)] + load(1000, 99000) + flr(100000) + [flush(400000)])
        self.assertEqual(judge(lines)[0], 'ok')


class Baseline(unittest.TestCase):
    """On the 7.3 baseline a gap is shown by its own observable (the windows)."""

    def test_clean_windows_not_reattached_is_not_a_shown_gap(self):
        st, why, _ = judge(trace(reattached=False), baseline=True,
                           expects=[clean(gap='bus-reset-unhooked')])
        self.assertEqual(st, 'fail')
        self.assertIn('not reproduced', why)
        self.assertIn('not re-attached', why)

    def test_violated_windows_stay_xfail(self):
        lines = by_time(trace(reattached=False) + [inv(150000)])
        st, why, _ = judge(lines, baseline=True, expects=[clean(gap='bus-reset-unhooked')])
        self.assertEqual(st, 'xfail')
        self.assertIn('; not re-attached', why)

    def test_untagged_expectation_fails(self):
        st, _, _ = judge(trace(reattached=False), baseline=True)
        self.assertEqual(st, 'fail')


if __name__ == '__main__':
    unittest.main()
