#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Unit tests of the guest KTAP importer and the results tables."""

import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ktap_import  # noqa: E402
import results  # noqa: E402

RUNNER_LOG = """\
TAP version 13
1..2
# timeout set to 900
# selftests: iommu/reset: reset_smoke.sh
# TAP version 13
# 1..2
# # oracle-dev bdf=0000:02:00.0 exp=0x84 pm=0x7c ats=0x100 bridge=0000:00:03.0
# ok 1 flr under load
# ok 2 raw flr control # SKIP no module
ok 1 selftests: iommu/reset: reset_smoke.sh
# timeout set to 900
# selftests: iommu/reset: reset_gaps.sh
# TAP version 13
# 1..1
# ok 1 reset-method-probe on 0000:02:00.0 # XFAIL known gap
ok 2 selftests: iommu/reset: reset_gaps.sh
"""


def imported(text):
    return ktap_import.parse(text.splitlines(True), 'cell')


class KtapImport(unittest.TestCase):
    def test_runner_nesting(self):
        got = imported(RUNNER_LOG)
        self.assertIn(('ok', 'cell: reset_smoke.sh: flr under load'), got)
        self.assertIn(('skip', 'cell: reset_smoke.sh: raw flr control'), got)
        self.assertIn(('xfail', 'cell: reset_gaps.sh: reset-method-probe on 0000:02:00.0'), got)
        self.assertIn(('ok', 'cell: selftests: iommu/reset: reset_smoke.sh'), got)
        self.assertFalse([g for g in got if g[0] == 'fail'], got)

    def test_direct_run(self):
        got = imported('TAP version 13\n1..2\nok 1 a\nnot ok 2 b\n')
        self.assertEqual(got, [('ok', 'cell: a'), ('fail', 'cell: b')])

    def test_lost_result_fails(self):
        # The third line of a plan of three never arrived.
        got = imported('TAP version 13\n1..3\nok 1 a\nok 2 b\n')
        self.assertIn(('fail', 'cell: document 1: 2 results of 3 planned '
                       '(output lost or garbled)'), got)

    def test_garbled_nested_result_fails(self):
        # A kernel message cut into a nested result line: the line no longer
        # parses, so the nested document is one result short.
        log = RUNNER_LOG.replace('# ok 1 flr under load',
                                 '# o[  134.02] pci 0000:01:00.0: removed while blocked')
        got = imported(log)
        self.assertIn(('fail', 'cell: reset_smoke.sh: 1 results of 2 planned '
                       '(output lost or garbled)'), got)

    def test_truncated_log_fails(self):
        got = imported(RUNNER_LOG.split('# selftests: iommu/reset: reset_gaps.sh')[0])
        self.assertIn(('fail', 'cell: document 1: 1 results of 2 planned '
                       '(output lost or garbled)'), got)

    def test_runner_without_nested_output_fails(self):
        # The runner's own lines arrived, its tests' output went elsewhere.
        log = ''.join(l for l in RUNNER_LOG.splitlines(True)
                      if not l.startswith('# ') or l.startswith('# selftests:'))
        got = imported(log)
        self.assertIn(('fail', "cell: reset_smoke.sh: the test's own KTAP did not arrive"), got)
        self.assertIn(('fail', "cell: reset_gaps.sh: the test's own KTAP did not arrive"), got)

    def test_empty_log_fails(self):
        self.assertEqual(imported(''), [('fail', 'cell: guest test channel holds no KTAP')])

    def test_skip_all(self):
        got = imported('TAP version 13\n1..0 # SKIP no device\n')
        self.assertEqual(got, [('skip', 'cell: document 1: no device')])

    def test_no_plan_fails(self):
        got = imported('TAP version 13\nok 1 a\n')
        self.assertIn(('fail', 'cell: document 1: no KTAP plan (output lost?), 1 results'), got)


def write_run(root, variant, mode, plan, verdicts, log=''):
    d = os.path.join(root, '%s-%s-%s' % (variant, mode, plan))
    os.makedirs(d)
    with open(os.path.join(d, 'oracle.txt'), 'w') as f:
        f.write('ORACLE-JSON ' + json.dumps({'rows': [], 'verdicts': verdicts}) + '\n')
    with open(os.path.join(d, 'tests.log'), 'w') as f:
        f.write(log)


def verdict(gap, name, ok, status=None):
    v = {'gap': gap, 'what': 'guest: %s on 0000:01:00.0' % name, 'ok': ok}
    if status:
        v['status'] = status
    return v


class DifferentialTable(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name
        self.expected = [('alias-blocking', 'alias-unblock'), ('probe-blocks', 'reset-method-probe')]

    def tearDown(self):
        self.tmp.cleanup()

    def table(self):
        return results.gap_table(self.root, 'full', ['legacy'], ['upstream', 'ours'],
                                 expected=self.expected)

    def test_all_shown(self):
        for v, ok, st in (('upstream', False, 'xfail'), ('ours', True, None)):
            write_run(self.root, v, 'legacy', 'full',
                      [verdict('alias-blocking', 'alias-unblock', ok, st),
                       verdict('probe-blocks', 'reset-method-probe', ok, st)])
        rows, bad = self.table()
        self.assertEqual(bad, [])
        self.assertEqual([r[-1] for r in rows[1:]], ['shown', 'shown'])

    def test_missing_verdict_fails(self):
        # The ours cell lost its alias-unblock verdict (a garbled line).
        write_run(self.root, 'upstream', 'legacy', 'full',
                  [verdict('alias-blocking', 'alias-unblock', False, 'xfail'),
                   verdict('probe-blocks', 'reset-method-probe', False, 'xfail')])
        write_run(self.root, 'ours', 'legacy', 'full',
                  [verdict('probe-blocks', 'reset-method-probe', True)])
        rows, bad = self.table()
        self.assertEqual(len(bad), 1)
        self.assertIn('alias-unblock', bad[0])
        self.assertIn('MISSING', [r[-1] for r in rows[1:]])

    def test_missing_cell_fails(self):
        write_run(self.root, 'upstream', 'legacy', 'full',
                  [verdict('alias-blocking', 'alias-unblock', False, 'xfail'),
                   verdict('probe-blocks', 'reset-method-probe', False, 'xfail')])
        rows, bad = self.table()
        self.assertEqual(len(bad), 2)

    def test_not_shown_fails(self):
        for v in ('upstream', 'ours'):
            write_run(self.root, v, 'legacy', 'full',
                      [verdict('alias-blocking', 'alias-unblock', True),
                       verdict('probe-blocks', 'reset-method-probe', True)])
        rows, bad = self.table()
        self.assertEqual(len(bad), 2)
        self.assertEqual([r[-1] for r in rows[1:]], ['NOT shown', 'NOT shown'])

    def test_not_observable_is_not_a_failure(self):
        for v in ('upstream', 'ours'):
            write_run(self.root, v, 'legacy', 'full',
                      [verdict('alias-blocking', 'alias-unblock', v == 'ours',
                               None if v == 'ours' else 'xfail'),
                       verdict('probe-blocks', 'reset-method-probe', False, 'skip')])
        rows, bad = self.table()
        self.assertEqual(bad, [])
        self.assertEqual(rows[2][-1], 'n/a')

    def test_pasid_mode_reads_its_own_plan(self):
        # Mode pasid's cells run plan "pasid", whatever the table's plan, and
        # carry the PASID row, which the other VT-d modes do not expect.
        for v, ok, st in (('upstream', False, 'xfail'), ('ours', True, None)):
            write_run(self.root, v, 'pasid', 'pasid',
                      [verdict('unquarantined', 'pasid-quarantine', ok, st)])
        rows, bad = results.gap_table(self.root, 'full', ['pasid'], ['upstream', 'ours'],
                                      expected=[('unquarantined', 'pasid-quarantine')])
        self.assertEqual(bad, [])
        self.assertEqual([r[-1] for r in rows[1:]], ['shown'])
        self.assertNotIn(('unquarantined', 'pasid-quarantine'),
                         results.EXPECTED_GAPS_BY_MODE['scalable'])
        self.assertIn(('unquarantined', 'pasid-quarantine'),
                      results.EXPECTED_GAPS_BY_MODE['pasid'])



GUEST = """TAP version 13
1..2
ok 1 claim of the group fails during a reset, works after it
%s 2 failed-reset on 0000:02:00.0: blocked=1 after 3 resets
"""


class Parity(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def run_pair(self, c_ok=True, c_gap=True, c_resets=3):
        for v in ('ours-c', 'ours'):
            ok = c_ok or v == 'ours'
            gap = c_gap or v == 'ours'
            resets = c_resets if v == 'ours-c' else 3
            write_run(self.root, v, 'legacy', 'full',
                      [verdict('unquarantined', 'failed-reset', gap),
                       {'what': 'oracle: phase 1 sysfs-flr on 0000:02:00.0', 'ok': True}],
                      GUEST.replace('3 resets', '%d resets' % resets) % ('ok' if ok else 'not ok'))
        return results.parity(self.root, 'full', ['legacy'])

    def test_same_verdicts(self):
        # Numbers in the descriptions (counts, timestamps) may differ.
        rows, bad = self.run_pair(c_resets=5)
        self.assertEqual(bad, [])
        self.assertEqual(rows[1], ('legacy', '2', '1', '1', '4', 'none'))

    def test_selftest_difference_fails(self):
        # Negative control: the C helpers fail one selftest case.
        rows, bad = self.run_pair(c_ok=False)
        self.assertEqual(len(bad), 1)
        self.assertIn('failed-reset', bad[0])
        self.assertEqual(rows[1][-1], '1')

    def test_differential_difference_fails(self):
        rows, bad = self.run_pair(c_gap=False)
        self.assertEqual(len(bad), 1)
        self.assertIn('differential', bad[0])

    def test_missing_cell_fails(self):
        write_run(self.root, 'ours', 'legacy', 'full', [], GUEST % 'ok')
        rows, bad = results.parity(self.root, 'full', ['legacy'])
        self.assertEqual(len(bad), 1)
        self.assertIn('MISSING', bad[0])


if __name__ == '__main__':
    unittest.main()
