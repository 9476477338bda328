#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Unit tests of the oracle's evidence rules: blind is never a pass, and the
oracle refuses what it cannot read.

Each test feeds a synthetic (mutated) trace that an earlier oracle judged
without complaint, and checks that it is now judged right or refused.
"""

import io
import os
import tempfile
import unittest
from contextlib import redirect_stdout

import iommu_reset_oracle as o
from test_oracle import cfg, data, ts

FN = '0000:02:00.0'
DEV = o.DevInfo(FN, exp=0x40, pm=0x80, ats=0x100, bridge='0000:00:03.0')


def inv(us, sid):
    return '%svtd_inv_desc invalidate desc type device high 0x0 low 0x%x\n' % (
        ts(us), (sid << 32) | 3)


def marker(us, phase):
    return cfg(us, '00:00.0', 0x3c, phase, 'mch')


def buses(us=0):
    """The firmware's bus numbers: root ports 00:02.0 (bus 1) and 00:03.0 (bus 2)."""
    return [cfg(us, '00:02.0', 0x19, 1), cfg(us, '00:02.0', 0x1a, 1),
            cfg(us, '00:03.0', 0x19, 2), cfg(us, '00:03.0', 0x1a, 2)]


def feed(lines, devs=(DEV,)):
    oracle = o.Oracle({d.bdf: d for d in devs}, 100000, 0.0)
    oracle.feed(lines)
    return oracle.finish().summary()


def verdicts(lines, expects, devs=(DEV,), baseline=False, require_ats_off=False):
    for e in expects:
        e.setdefault('gap', None)
    return o.check(feed(lines, devs), expects, require_ats_off, baseline)


def clean(phase, name='sysfs', bdf=FN, gap=None):
    return {'phase': phase, 'name': name, 'bdf': bdf, 'expect': 'clean', 'gap': gap}


def cli(trace_lines, console_lines, *flags):
    """(exit status, stdout) of the oracle's command line on the given files."""
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, 'trace.log')
        console = os.path.join(tmp, 'tests.log')
        with open(trace, 'w') as f:
            f.writelines(trace_lines)
        with open(console, 'w') as f:
            f.writelines(console_lines)
        out = io.StringIO()
        with redirect_stdout(out):
            rc = o.main([trace, '--guest-log', console] + list(flags))
    return rc, out.getvalue()


DESCRIBE = ('# oracle-dev bdf=%s exp=0x40 pm=0x80 ats=0x100 bridge=0000:00:03.0\n' % FN)


class BlindIsNeverAPass(unittest.TestCase):
    """Issue 27 item 2 (oracle side): a phase the oracle did not see."""

    def test_blind_gap_phase_is_not_xfail_on_baseline(self):
        # The baseline's reset-subordinate phase with no reset in the trace (the
        # SBR went unseen): the function's traffic only.
        lines = [marker(0, 20), inv(1000, 0x200), inv(2000, 0x200)]
        exp = [clean(20, 'reset-subordinate', gap='bus-reset-unhooked')]
        st, why, _ = verdicts(lines, exp, baseline=True)[0]
        self.assertEqual(st, 'blind')
        self.assertIn('oracle blind', why)

    def test_empty_no_block_phase_is_blind(self):
        # A no-block phase without anything of the function in it: the oracle
        # cannot tell "did not block" from "did not see".
        lines = [marker(0, 21), marker(500000, 22), inv(510000, 0x200)]
        exp = [{'phase': 21, 'name': 'reset-method-probe', 'bdf': FN, 'expect': 'no-block',
                'gap': 'probe-blocks'}]
        self.assertEqual([v[0] for v in verdicts(lines, exp)], ['blind'])
        self.assertEqual([v[0] for v in verdicts(lines, exp, baseline=True)], ['blind'])

    def test_no_block_with_traffic_is_judged(self):
        quiet = [marker(0, 21), inv(1000, 0x200)]
        exp = [{'phase': 21, 'name': 'reset-method-probe', 'bdf': FN, 'expect': 'no-block',
                'gap': 'probe-blocks'}]
        self.assertEqual([v[0] for v in verdicts(quiet, exp)], ['ok'])
        self.assertEqual([v[0] for v in verdicts(quiet, exp, baseline=True)], ['fail'])

    def test_cli_blind_fails(self):
        # The command line: a blind baseline phase is a failure, printed as FAIL
        # (check.sh counts it) with status "blind" in the JSON.
        console = [DESCRIBE, '# oracle-expect phase=20 name=reset-subordinate bdf=%s '
                   'expect=clean gap=bus-reset-unhooked\n' % FN]
        rc, out = cli([marker(0, 20), inv(1000, 0x200)], console, '--baseline')
        self.assertEqual(rc, 1)
        self.assertIn('FAIL: oracle: phase 20 reset-subordinate on %s: no reset seen' % FN, out)
        self.assertNotIn('XFAIL', out)
        self.assertIn('"status": "blind"', out)
        self.assertIn('"expect": "clean"', out)


class Refusals(unittest.TestCase):
    """Issue 27 item 8: the oracle refuses what it cannot read."""

    def assertRefused(self, lines, text, devs=(DEV,)):
        with self.assertRaises(o.TraceError) as cm:
            feed(lines, devs)
        self.assertIn(text, str(cm.exception))

    def test_trace_without_timestamps_refused(self):
        # The recorded violation without "-msg timestamp=on": line numbers are no
        # times, so no window can be placed.
        lines = [l.split(':', 1)[1] for l in data('flr-violation.trace')]
        self.assertRefused(lines, 'without a timestamp')
        rc, out = cli(lines, [DESCRIBE])
        self.assertEqual(rc, 2)
        self.assertIn('FAIL: oracle: refused the trace', out)
        self.assertNotIn('ORACLE-JSON', out)

    def test_time_going_back_refused(self):
        # A second trace appended to the first (or a clock stepped back): the
        # invalidation at 1.05 s, inside the FLR's window, was counted as outside.
        lines = [marker(1000000, 1), cfg(1000000, '02:00.0', 0x48, 0x8000),
                 inv(1050000, 0x200), inv(500000, 0x200)]
        self.assertRefused(lines, 'time goes back by 550000 us')

    def test_small_step_back_counted_by_time(self):
        # Lines a few microseconds out of order (two threads): counted by time.
        # The window is [1 ms, 101 ms]: 100.995 and 100.999 ms are in it.
        lines = [marker(0, 1), cfg(1000, '02:00.0', 0x48, 0x8000), inv(100995, 0x200),
                 inv(101005, 0x200), inv(100999, 0x200), inv(101002, 0x200)]
        row = feed(lines)[-1]
        self.assertEqual((row['resets'], row['inv_total'], row['inv_in_windows']), (1, 4, 2))

    def test_af_flr_opens_a_window(self):
        # Initiate FLR through the Advanced Features capability (AF_CTRL at
        # cap + 4, bit 0), after a PCIe FLR with a clean window: the
        # invalidation 10 ms into the AF FLR is one the function may drop.
        devs, _ = o.parse_console([DESCRIBE.rstrip('\n') + ' af=0xa0\n'])
        self.assertEqual(devs[FN].af, 0xa0)
        lines = [marker(0, 1), cfg(1000, '02:00.0', 0x48, 0x8000),
                 cfg(500000, '02:00.0', 0xa4, 0x1), inv(510000, 0x200)]
        rows = {(r['phase'], r['bdf']): r for r in feed(lines, devs.values())}
        self.assertEqual((rows[(1, FN)]['flr'], rows[(1, FN)]['inv_in_windows']), (2, 1))
        self.assertEqual([v[0] for v in verdicts(lines, [clean(1)], devs.values())], ['fail'])

    def test_af_flr_from_dev_option(self):
        lines = [marker(0, 1), cfg(1000, '02:00.0', 0x48, 0x8000),
                 cfg(500000, '02:00.0', 0xa4, 0x1), inv(510000, 0x200)]
        with tempfile.NamedTemporaryFile('w', suffix='.trace') as trace:
            trace.writelines(lines)
            trace.flush()
            out = io.StringIO()
            with redirect_stdout(out):
                rc = o.main([trace.name, '--dev',
                             FN + ',exp=40,pm=80,ats=100,bridge=0000:00:03.0,af=a0'])
        self.assertEqual(rc, 0)
        self.assertIn('"flr": 2', out.getvalue())

    # A switch below root port 00:02.0: upstream port 01:00.0 (buses 2-3),
    # downstream port 02:00.0 (bus 3), endpoint 03:00.0 (sid 0x300).
    SWITCH = ['00:02.0', 1, 3], ['01:00.0', 2, 3], ['02:00.0', 3, 3]
    END = o.DevInfo('0000:03:00.0', exp=0x40, pm=0x80, ats=0x100, bridge='0000:02:00.0')

    def switch_trace(self, with_buses=True):
        lines = []
        if with_buses:
            for bdf, sec, sub in self.SWITCH:
                lines += [cfg(0, bdf, 0x19, sec), cfg(0, bdf, 0x1a, sub)]
        # A clean FLR, then a secondary bus reset by the root port two levels
        # up, with an invalidation 40 ms after its end.
        return lines + [marker(0, 1), cfg(1000, '03:00.0', 0x48, 0x8000),
                        inv(300000, 0x300), cfg(500000, '00:02.0', 0x3e, 0x40),
                        cfg(502000, '00:02.0', 0x3e, 0x0), inv(542000, 0x300)]

    def test_sbr_two_levels_up_resets_the_endpoint(self):
        rows = {(r['phase'], r['bdf']): r for r in feed(self.switch_trace(), (self.END,))}
        r = rows[(1, self.END.bdf)]
        self.assertEqual((r['flr'], r['sbr'], r['inv_in_windows']), (1, 1, 1))
        exp = [clean(1, bdf=self.END.bdf)]
        self.assertEqual([v[0] for v in verdicts(self.switch_trace(), exp, (self.END,))],
                         ['fail'])

    def test_sbr_dword_bus_numbers(self):
        # Linux assigning the bus numbers itself: a dword at 0x18 of a bridge.
        lines = [cfg(0, bdf, 0x18, (sub << 16) | (sec << 8)) for bdf, sec, sub in self.SWITCH]
        lines += self.switch_trace(False)
        self.assertEqual(feed(lines, (self.END,))[-1]['sbr'], 1)

    def test_sbr_unknown_topology_refused(self):
        self.assertRefused(self.switch_trace(False), 'bus numbers', (self.END,))

    def test_sbr_topology_disagreeing_with_description_refused(self):
        # The trace puts bus 2 below 00:02.0, the description 02:00.0 below 00:03.0.
        lines = [cfg(0, '00:02.0', 0x19, 1), cfg(0, '00:02.0', 0x1a, 2),
                 cfg(0, '00:03.0', 0x19, 3), cfg(0, '00:03.0', 0x1a, 3),
                 cfg(1000, '00:03.0', 0x3e, 0x40)]
        self.assertRefused(lines, 'is not on those buses')

    def test_recorded_firmware_buses(self):
        # QEMU 10.0's firmware sets the root ports' bus numbers (0xff first) and
        # sizes the host bridge's BAR2 at 0x18: SBRs by both root ports reach
        # the function on their bus only.
        sib = o.DevInfo('0000:01:00.0', exp=0x40, pm=0x80, ats=0x100, bridge='0000:00:02.0')
        t = 1796441890 * 1000000 - 100 * 1000000
        lines = data('qemu10-firmware-buses.trace') + [
            marker(t, 5), cfg(t + 1000, '00:03.0', 0x3e, 0x42), inv(t + 2000, 0x200),
            inv(t + 2000, 0x100), cfg(t + 3000, '00:03.0', 0x3e, 0x2)]
        rows = {(r['phase'], r['bdf']): r for r in feed(lines, (DEV, sib))}
        self.assertEqual((rows[(5, FN)]['sbr'], rows[(5, FN)]['inv_in_windows']), (1, 1))
        self.assertEqual(rows[(5, sib.bdf)]['resets'], 0)

    def test_bridge_control_cleared_by_an_ambiguous_write_refused(self):
        # Negative control: an SBR whose clear is a dword write at 0x3c of
        # 0x1ff (Interrupt Pin 1, Line 0xff, Bridge Control 0) - or a word
        # write of Line and Pin: the trace does not say. Read as the latter,
        # the window stayed open to the end of the trace and took in the
        # invalidation 300 ms later, a negative control "shown" by nothing.
        lines = buses() + [marker(0, 2), cfg(1000, '00:03.0', 0x3e, 0x40),
                           cfg(3000, '00:03.0', 0x3c, 0x1ff), inv(300000, 0x200)]
        self.assertRefused(lines, 'dword write that clears Bridge Control')

    def test_bridge_control_dword_with_other_bits_is_read(self):
        lines = buses() + [marker(0, 2), cfg(1000, '00:03.0', 0x3c, 0x4201ff),
                           cfg(3000, '00:03.0', 0x3c, 0x201ff), inv(300000, 0x200)]
        exp = [{'phase': 2, 'name': 'raw', 'bdf': FN, 'expect': 'violation'}]
        self.assertEqual([v[0] for v in verdicts(lines, exp)], ['fail'])

    def test_interrupt_line_outside_a_reset_is_not_bridge_control(self):
        lines = buses() + [cfg(0, '00:03.0', 0x3c, 0xb), cfg(1000, '00:03.0', 0x3c, 0x1ff)]
        self.assertEqual(feed(lines), [])


if __name__ == '__main__':
    unittest.main()
