#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Unit tests of the results tables' evidence rules (issue 27): no empty
PASS, and blind is never a pass.

Each test builds a synthetic (mutated) run directory that an earlier
results.py accepted, and checks that it is now refused.
"""

import contextlib
import io
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import results  # noqa: E402

FN = '0000:02:00.0'
DESCRIBE = '# oracle-dev bdf=%s exp=0x40 pm=0x7c ats=0x100 bridge=0000:00:03.0\n' % FN


def orow(phase, resets=0, inv_total=0, inv_in_windows=0, ats_disables=0, bdf=FN):
    """One row of the oracle's JSON."""
    return {'phase': phase, 'bdf': bdf, 'flr': resets, 'pm': 0, 'sbr': 0, 'resets': resets,
            'inv_total': inv_total, 'inv_in_windows': inv_in_windows,
            'windows_hit': 1 if inv_in_windows else 0, 'ats_off_before': resets,
            'ats_known': resets, 'ats_disables': ats_disables}


def expect(phase, name, kind, gap=None, bdf=FN):
    return '# oracle-expect phase=%d name=%s bdf=%s expect=%s%s\n' % (
        phase, name, bdf, kind, ' gap=' + gap if gap else '')


def oracle_verdict(phase, name, ok, status=None, gap=None, text='', bdf=FN):
    v = {'what': 'oracle: phase %d %s on %s: %s' % (phase, name, bdf, text), 'ok': ok,
         'gap': gap}
    if status:
        v['status'] = status
    return v


def guest_verdict(gap, name, ok, status):
    return {'what': 'guest: %s on %s: detail' % (name, FN), 'ok': ok, 'gap': gap,
            'status': status}


def write_run(root, variant, mode, plan, rows, verdicts, log):
    d = os.path.join(root, '%s-%s-%s' % (variant, mode, plan))
    os.makedirs(d)
    with open(os.path.join(d, 'oracle.txt'), 'w') as f:
        f.write('ORACLE-JSON ' + json.dumps({'rows': rows, 'verdicts': verdicts}) + '\n')
    with open(os.path.join(d, 'tests.log'), 'w') as f:
        f.write(log)
    return d


# A cell that passes the oracle table: a clean phase and a negative control.
GOOD_LOG = DESCRIBE + expect(1, 'sysfs-flr', 'clean') + expect(2, 'raw-flr', 'violation')
GOOD_ROWS = [orow(1, resets=3, inv_total=50), orow(2, resets=5, inv_total=90, inv_in_windows=40)]
GOOD_VERDICTS = [oracle_verdict(1, 'sysfs-flr', True, 'ok'),
                 oracle_verdict(2, 'raw-flr', True, 'ok')]


class NoEmptyPass(unittest.TestCase):
    """Issue 27 item 3: the oracle table's header rules, in code."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def cell(self, rows, verdicts, log, mode='legacy', plan='full'):
        d = write_run(self.root, 'ours', mode, plan, rows, verdicts, log)
        return results.row('ours', mode, d, plan)

    def test_good_cell_passes(self):
        cells, problem = self.cell(GOOD_ROWS, GOOD_VERDICTS, GOOD_LOG)
        self.assertEqual((cells[3], cells[5], cells[7], cells[8], cells[-1]),
                         ('3', '0', '5', '40', 'PASS'))
        self.assertIsNone(problem)

    def test_cell_without_oracle_is_na(self):
        # A pasid cell: the guest's verdicts only (tagged with gaps), no oracle
        # expectation, no rows. It was "PASS" with 0 resets and 0 negative-control
        # invalidations.
        verdicts = [guest_verdict('alias-blocking', 'alias-block', True, 'ok')]
        cells, problem = self.cell([], verdicts, DESCRIBE, mode='pasid', plan='pasid')
        self.assertEqual(cells[-1], 'n/a (no oracle)')
        self.assertEqual(cells[3], '-')
        self.assertIsNone(problem)

    def test_cell_without_oracle_in_a_mode_with_one_is_missing(self):
        verdicts = [guest_verdict('alias-blocking', 'alias-block', True, 'ok')]
        cells, problem = self.cell([], verdicts, DESCRIBE)
        self.assertEqual(cells[-1], 'n/a (no oracle)')
        self.assertIn('MISSING', problem)

    def test_cell_without_oracle_still_fails_its_verdicts(self):
        log = DESCRIBE + expect(33, 'attached-after-resume', 'attached')
        cells, problem = self.cell([], [oracle_verdict(33, 'attached-after-resume', False,
                                                       'fail')], log, mode='pasid', plan='pasid')
        self.assertEqual(cells[-1], 'FAIL')
        self.assertIn('1 oracle verdicts failed', problem)

    def test_cell_without_negative_control_fails(self):
        log = DESCRIBE + expect(1, 'sysfs-flr', 'clean')
        cells, problem = self.cell(GOOD_ROWS[:1], GOOD_VERDICTS[:1], log)
        self.assertEqual(cells[-1], 'FAIL')
        self.assertIn('no negative control', problem)

    def test_cell_without_clean_expectation_fails(self):
        log = DESCRIBE + expect(2, 'raw-flr', 'violation')
        cells, problem = self.cell(GOOD_ROWS[1:], GOOD_VERDICTS[1:], log)
        self.assertEqual(cells[-1], 'FAIL')
        self.assertIn('no clean expectation', problem)

    def test_negative_control_without_invalidations_fails(self):
        # Its verdict says ok, its row says "neg.ctl inv" 0.
        rows = GOOD_ROWS[:1] + [orow(2, resets=5, inv_total=90)]
        cells, problem = self.cell(rows, GOOD_VERDICTS, GOOD_LOG)
        self.assertEqual((cells[8], cells[-1]), ('0', 'FAIL'))
        self.assertIn('negative control', problem)

    def test_clean_invalidations_in_windows_fail(self):
        rows = [orow(1, resets=3, inv_total=50, inv_in_windows=2)] + GOOD_ROWS[1:]
        cells, problem = self.cell(rows, GOOD_VERDICTS, GOOD_LOG)
        self.assertEqual((cells[5], cells[-1]), ('2', 'FAIL'))
        self.assertIn('2 invalidations in windows', problem)

    def test_blind_clean_phase_fails(self):
        # The clean phase has no row at all (no reset seen), its verdict says ok.
        cells, problem = self.cell(GOOD_ROWS[1:], GOOD_VERDICTS, GOOD_LOG)
        self.assertEqual(cells[-1], 'FAIL')
        self.assertIn('BLIND', problem)

    def test_pasid_matrix_prints_no_pass(self):
        for v, ok, st in (('upstream', False, 'xfail'), ('ours', True, 'ok')):
            write_run(self.root, v, 'pasid', 'pasid', [],
                      [guest_verdict(g, n, ok, st)
                       for g, n in results.EXPECTED_GAPS_BY_MODE['pasid']], DESCRIBE)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = results.main(['--variants=upstream,ours', self.root, 'full', 'pasid'])
        table = out.getvalue().split('\n\n')[0]
        self.assertEqual(rc, 0)
        self.assertEqual(table.count('n/a (no oracle)'), 2)
        self.assertNotIn('PASS', table)


class BlindIsNeverAPass(unittest.TestCase):
    """Issue 27 item 2 (host side): the differential table."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def pair(self, up, ours, gap, name, log):
        """Upstream's and ours' cells, each (rows, verdict)."""
        for v, (rows, verdict) in (('upstream', up), ('ours', ours)):
            write_run(self.root, v, 'legacy', 'full', rows, [verdict], log)
        return results.gap_table(self.root, 'full', ['legacy'], ['upstream', 'ours'],
                                 expected=[(gap, name)])

    def test_shown(self):
        log = DESCRIBE + expect(20, 'reset-subordinate', 'clean', 'bus-reset-unhooked')
        rows, bad = self.pair(
            ([orow(20, resets=3, inv_in_windows=9)],
             oracle_verdict(20, 'reset-subordinate', False, 'xfail', 'bus-reset-unhooked')),
            ([orow(20, resets=3)],
             oracle_verdict(20, 'reset-subordinate', True, 'ok', 'bus-reset-unhooked')),
            'bus-reset-unhooked', 'reset-subordinate', log)
        self.assertEqual(bad, [])
        self.assertEqual(rows[1][-1], 'shown')

    def test_blind_upstream_phase_is_not_shown(self):
        # The old oracle's verdict on a baseline phase without a reset: XFAIL
        # ("no reset seen in the trace (oracle blind)"), which was "shown".
        log = DESCRIBE + expect(20, 'reset-subordinate', 'clean', 'bus-reset-unhooked')
        rows, bad = self.pair(
            ([orow(20, inv_total=500)],
             oracle_verdict(20, 'reset-subordinate', False, 'xfail', 'bus-reset-unhooked',
                            'no reset seen in the trace (oracle blind) [known gap of the '
                            'baseline: bus-reset-unhooked]')),
            ([orow(20, resets=3)],
             oracle_verdict(20, 'reset-subordinate', True, 'ok', 'bus-reset-unhooked')),
            'bus-reset-unhooked', 'reset-subordinate', log)
        self.assertEqual(rows[1][3:], ('BLIND', 'PASS', 'BLIND'))
        self.assertEqual(len(bad), 1)
        self.assertIn('BLIND', bad[0])

    def test_blind_status_is_blind(self):
        log = DESCRIBE + expect(20, 'reset-subordinate', 'clean', 'bus-reset-unhooked')
        rows, bad = self.pair(
            ([], oracle_verdict(20, 'reset-subordinate', False, 'blind', 'bus-reset-unhooked')),
            ([orow(20, resets=3)],
             oracle_verdict(20, 'reset-subordinate', True, 'ok', 'bus-reset-unhooked')),
            'bus-reset-unhooked', 'reset-subordinate', log)
        self.assertEqual(rows[1][-1], 'BLIND')
        self.assertEqual(len(bad), 1)

    def test_empty_no_block_phase_is_blind(self):
        # Ours "did not block" in a phase in which the oracle saw nothing of the
        # function at all.
        log = DESCRIBE + expect(21, 'reset-method-probe', 'no-block', 'probe-blocks')
        rows, bad = self.pair(
            ([orow(21, inv_total=300, ats_disables=21)],
             oracle_verdict(21, 'reset-method-probe', False, 'xfail', 'probe-blocks')),
            ([], oracle_verdict(21, 'reset-method-probe', True, 'ok', 'probe-blocks')),
            'probe-blocks', 'reset-method-probe', log)
        self.assertEqual(rows[1][3:], ('FAIL (XFAIL)', 'BLIND', 'BLIND'))
        self.assertEqual(len(bad), 1)

    def test_not_reproduced_is_not_shown(self):
        # The baseline did not block: the gap was not reproduced, the oracle
        # said FAIL, and "FAIL" on upstream was taken for the defect.
        log = DESCRIBE + expect(21, 'reset-method-probe', 'no-block', 'probe-blocks')
        rows, bad = self.pair(
            ([orow(21, inv_total=300)],
             oracle_verdict(21, 'reset-method-probe', True, 'fail', 'probe-blocks',
                            '0 resets, 0 ATS disables, expected none [gap probe-blocks not '
                            'reproduced on the baseline]')),
            ([orow(21, inv_total=300)],
             oracle_verdict(21, 'reset-method-probe', True, 'ok', 'probe-blocks')),
            'probe-blocks', 'reset-method-probe', log)
        self.assertEqual(rows[1][3:], ('FAIL (not reproduced)', 'PASS', 'NOT shown'))
        self.assertEqual(len(bad), 1)

    def test_na_upstream_with_failing_ours_is_not_na(self):
        log = DESCRIBE + expect(21, 'reset-method-probe', 'no-block', 'probe-blocks')
        rows, bad = self.pair(
            ([orow(21, inv_total=300)],
             oracle_verdict(21, 'reset-method-probe', True, 'skip', 'probe-blocks')),
            ([orow(21, inv_total=300, ats_disables=4)],
             oracle_verdict(21, 'reset-method-probe', False, 'fail', 'probe-blocks')),
            'probe-blocks', 'reset-method-probe', log)
        self.assertEqual(rows[1][-1], 'NOT shown')
        self.assertEqual(len(bad), 1)

    def test_two_verdicts_of_one_row_must_agree(self):
        for v, verdicts in (('upstream', [guest_verdict('g', 'x', False, 'xfail'),
                                          guest_verdict('g', 'x', True, 'fail')]),
                            ('ours', [guest_verdict('g', 'x', True, 'ok')])):
            write_run(self.root, v, 'legacy', 'full', [], verdicts, DESCRIBE)
        rows, bad = results.gap_table(self.root, 'full', ['legacy'], ['upstream', 'ours'],
                                      expected=[('g', 'x')])
        self.assertEqual(rows[1][-1], 'NOT shown')
        self.assertEqual(len(bad), 1)


class ExitStatus(unittest.TestCase):
    """results.py fails on any differential row that is not shown or n/a."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name
        self.lint = os.path.join(self.root, 'lint.log')

    def tearDown(self):
        self.tmp.cleanup()

    def matrix(self, upstream_probe='xfail', misuse='ok'):
        """Mode amd: the six single-function rows, as the guest's verdicts."""
        for v in ('upstream', 'ours'):
            verdicts = list(GOOD_VERDICTS)
            for gap, name in results.EXPECTED_GAPS_BY_MODE['amd']:
                if v == 'ours':
                    verdicts.append(guest_verdict(gap, name, True, 'ok'))
                elif name == 'reset-method-probe' and upstream_probe == 'fail':
                    verdicts.append(guest_verdict(gap, name, True, 'fail'))
                else:
                    verdicts.append(guest_verdict(gap, name, False, 'xfail'))
            write_run(self.root, v, 'amd', 'full', GOOD_ROWS, verdicts, GOOD_LOG)
        with open(self.lint, 'w') as f:
            if misuse:
                f.write('ok rust misuse ok: builds (positive control)\n')
                f.write('%s rust misuse double_done: rejected with E0382\n'
                        % ('ok' if misuse == 'ok' else 'not ok'))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = results.main(['--lint=' + self.lint, '--variants=upstream,ours', self.root,
                               'full', 'amd'])
        return rc, out.getvalue()

    def test_all_shown_passes(self):
        rc, out = self.matrix()
        self.assertEqual(rc, 0, out)

    def test_not_reproduced_fails(self):
        rc, out = self.matrix(upstream_probe='fail')
        self.assertEqual(rc, 1)
        self.assertIn('FAILED: differential row probe-blocks/reset-method-probe/amd', out)

    def test_misuse_failure_fails(self):
        rc, out = self.matrix(misuse='fail')
        self.assertEqual(rc, 1)
        self.assertIn('unbalanced-prepare-done', out.split('FAILED: ')[-1])

    def test_missing_misuse_result_fails(self):
        rc, out = self.matrix(misuse=None)
        self.assertEqual(rc, 1)
        self.assertIn('MISSING EVIDENCE: differential row unbalanced-prepare-done', out)


if __name__ == '__main__':
    unittest.main()
