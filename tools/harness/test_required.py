#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Unit tests of what must run (issue 27 item 6): required.txt, required.py,
and the parity of results.py on skipped results.

The scenarios build synthetic run directories (tests.log, console.log,
oracle.txt, as a boot leaves them) of cells that meet required.txt, then
take away or skip what a cell must produce: each was accepted by the
importers and the parity before required.txt (a missing script, a SKIP, a
missing KUnit suite, a SKIP on both ours-c and ours), and is refused now.
"""

import contextlib
import fnmatch
import io
import json
import os
import re
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import ktap_import  # noqa: E402
import required  # noqa: E402
import results  # noqa: E402

REPO = os.path.normpath(os.path.join(HERE, '..', '..'))
SELFTESTS = os.path.join(REPO, 'tools', 'testing', 'selftests', 'iommu', 'reset')
PLANS = os.path.join(HERE, 'guest', 'plans')
REQ = required.load()
BDF_OF = {'oracle': '0000:02:00.0', 'guest': '0000:01:00.0'}


def concrete(pattern):
    """A description that a requirement's glob matches."""
    return re.sub(r'[*?]', 'x', pattern or '')


class Cell:
    """A synthetic run directory that meets REQ for VARIANT in MODE.

    Every requirement gets a result: ok, or SKIP where an allowance of the
    cell allows one (for the reason the allowance names); a script of which
    the cell requires no case (upstream's Rust tests) skips as a whole, with
    the reason its allowance names.
    drop: scripts, KUnit suites (or SUITE.CASE) and oracle verdicts that never ran;
    skip_all: {script: reason}, scripts that skipped as a whole;
    skip: {script: [case pattern]}, cases that skipped.
    """

    def __init__(self, variant, mode, req=REQ, drop=(), skip_all=None, skip=None):
        self.variant, self.mode, self.req = variant, mode, req
        self.plan = results.PLAN_BY_MODE.get(mode, 'full')
        self.drop = set(drop)
        self.skip_all = dict(skip_all or {})
        self.skip = dict(skip or {})

    def lines(self, kind):
        return [l for l in self.req.requirements(self.variant, self.mode, self.plan)
                if l.kind == kind]

    def status(self, kind, name, detail):
        r = required.Result(kind, name, detail, 'skip', detail)
        return 'skip' if self.req.allowed(self.variant, self.mode, self.plan, r) else 'ok'

    def tests_log(self):
        scripts = [l.name for l in self.lines('selftest') if l.name not in self.drop]
        out = ['=== guest: plan %s' % self.plan, 'TAP version 13', '1..%d' % len(scripts)]
        for n, script in enumerate(scripts, 1):
            cases = [l.pattern for l in self.lines('case') if l.name == script]
            if not cases and script not in self.skip_all:
                # Skipped as a whole, for the reason the list allows.
                why = [l.pattern for l in self.req.allowances(self.variant, self.mode, self.plan)
                       if l.kind == 'case' and l.name == script]
                self.skip_all[script] = concrete(why[0]) if why else 'no reason'
            out += ['# timeout set to 900', '# selftests: iommu/reset: %s' % script,
                    '# TAP version 13']
            if script in self.skip_all:
                out += ['# 1..0 # SKIP %s' % self.skip_all[script],
                        'ok %d selftests: iommu/reset: %s # SKIP' % (n, script)]
                continue
            out.append('# 1..%d' % len(cases))
            allows = [concrete(a.pattern) for a in
                      self.req.allowances(self.variant, self.mode, self.plan)
                      if (a.kind, a.name) == ('case', script)]
            for i, pattern in enumerate(cases, 1):
                # Where the cell may skip the case, it does, for that reason.
                desc = ([a for a in allows if fnmatch.fnmatchcase(a, pattern)]
                        or [concrete(pattern)])[0]
                st = 'skip' if pattern in self.skip.get(script, ()) else \
                    self.status('case', script, desc)
                out.append('# ok %d %s%s' % (i, desc, ' # SKIP' if st == 'skip' else ''))
            out.append('ok %d selftests: iommu/reset: %s' % (n, script))
        return '\n'.join(out) + '\n'

    def console_log(self):
        suites = {}
        for l in self.lines('kunit'):
            if l.name in self.drop:
                continue
            suite, _, case = l.name.partition('.')
            if suite in self.drop:
                continue
            suites.setdefault(suite, [])
            if case:
                suites[suite].append(case)
        out = ['[    0.100000] Linux version 7.3.4', '[    6.856274] KTAP version 1',
               '[    6.856368] 1..%d' % len(suites)]
        for n, (suite, cases) in enumerate(suites.items(), 1):
            out += ['[    6.859676]     KTAP version 1',
                    '[    6.859718]     # Subtest: %s' % suite,
                    '[    6.860514]     1..%d' % max(len(cases), 1)]
            out += ['[    6.870000]     ok %d %s' % (i, c) for i, c in enumerate(cases or
                                                                             ['case'], 1)]
            out.append('[    6.889435] ok %d %s' % (n, suite))
        return '\n'.join(out) + '\n'

    def verdicts(self):
        out = []
        allows = self.req.allowances(self.variant, self.mode, self.plan)
        for n, l in enumerate(self.lines('oracle') + self.lines('guest'), 1):
            if l.name in self.drop:
                continue
            # Where the cell may skip the verdict, it does, for that reason.
            why = [a.pattern for a in allows if (a.kind, a.name) == (l.kind, l.name)]
            detail = concrete(why[0]) if why else 'as expected'
            st = self.status(l.kind, l.name, detail)
            if l.kind == 'oracle':
                what = 'oracle: phase %d %s on %s: %s' % (n, l.name, BDF_OF['oracle'], detail)
            else:
                what = 'guest: %s on %s: %s' % (l.name, BDF_OF['guest'], detail)
            out.append({'what': what, 'ok': st == 'ok', 'status': st,
                        'gap': None, 'phase': n if l.kind == 'oracle' else None})
        return out

    def write(self, root):
        d = os.path.join(root, '%s-%s-%s' % (self.variant, self.mode, self.plan))
        os.makedirs(d)
        with open(os.path.join(d, 'tests.log'), 'w') as f:
            f.write(self.tests_log())
        with open(os.path.join(d, 'console.log'), 'w') as f:
            f.write(self.console_log())
        with open(os.path.join(d, 'oracle.txt'), 'w') as f:
            f.write('ORACLE-JSON ' + json.dumps({'rows': [], 'verdicts': self.verdicts()}) + '\n')
        return d


def problems(cell, root):
    d = cell.write(root)
    return required.check_run(REQ, cell.variant, cell.mode, cell.plan, d)[3]


class TheList(unittest.TestCase):
    """required.txt parses, and says why for every SKIP it allows."""

    def test_parses(self):
        self.assertEqual(REQ.plans, {'full': ('legacy', 'scalable'), 'pasid': ('pasid',)})
        self.assertTrue(all(l.reason for l in REQ.lines if l.allow))

    def test_allowance_without_reason_refused(self):
        with self.assertRaises(required.ListError):
            required.Required('plan full legacy\nallow upstream * selftest reset_sample.sh\n')
        with self.assertRaises(required.ListError):
            required.Required('plan full legacy\nours * selftest x -- a reason on a requirement\n')

    def test_unknown_words_refused(self):
        for bad in ('ourz * selftest x', 'ours amd selftest x', 'ours * test x',
                    'ours * case reset_smoke.sh', 'ours * kunit x pattern'):
            with self.assertRaises(required.ListError, msg=bad):
                required.Required('plan full legacy\n' + bad + '\n')

    def test_patched_cells_allow_only_environmental_skips(self):
        # ours-c and ours may skip nothing but what their machine cannot do.
        # A new allowance for them must be deliberate: it changes this list.
        got = sorted((l.plan, ','.join(l.modes), l.kind, l.name, l.pattern)
                     for l in REQ.lines if l.allow and set(l.variants) & set(required.PATCHED))
        self.assertEqual(got, [
            ('full', 'legacy,scalable', 'case', 'reset_group.sh',
             'PASIDs around a reset: the IOMMU of * has no PASID support'),
            ('full', 'legacy,scalable', 'case', 'reset_group.sh',
             'pasid-quarantine: the IOMMU of * has no PASID support'),
            ('full', 'scalable', 'oracle', 'reset-method-probe',
             'blocking is only visible as an ATS toggle (VT-d legacy mode)')])
        for l in REQ.lines:
            if l.allow and set(l.variants) & set(required.PATCHED):
                self.assertTrue(l.reason.startswith('environmental:'), l.where)


def test_progs():
    with open(os.path.join(SELFTESTS, 'Makefile')) as f:
        text = f.read()
    block = re.search(r'^TEST_PROGS := \\\n((?:\t.*\n)+)', text, re.M).group(1)
    return [w.strip(' \t\\') for w in block.splitlines() if w.strip(' \t\\')]


def plan_scripts(plan):
    """The scripts a guest plan runs: all of TEST_PROGS (-c) or those it names (-t)."""
    with open(os.path.join(PLANS, plan)) as f:
        text = f.read()
    if re.search(r'run_kselftest\.sh -c iommu/reset\s*$', text, re.M):
        return test_progs()
    return re.findall(r'-t iommu/reset:(\S+)', text)


def plan_args(plan, script):
    """The arguments a guest plan gives SCRIPT (KSELFTEST_<SCRIPT>_ARGS)."""
    var = 'KSELFTEST_%s_ARGS' % re.sub(r'\W', '_', script).upper()
    with open(os.path.join(PLANS, plan)) as f:
        m = re.search(r'^export %s=(?:"([^"]*)"|(\S+))' % var, f.read(), re.M)
    return (m.group(1) or m.group(2)).split() if m else []


def ktap_plan(script, plan='full'):
    """A script's plan: N, or K per argument ("$((K * $#))") of the plan's run."""
    with open(os.path.join(SELFTESTS, script)) as f:
        m = re.search(r'^ktap_set_plan (?:(\d+)|\$\(\((\d+) \* \$#\)\))$', f.read(), re.M)
    if m.group(1):
        return int(m.group(1))
    return int(m.group(2)) * len(plan_args(plan, script))


def kunit_cases(path, suite):
    """The #[test] functions of the #[kunit_tests(SUITE)] module of a Rust file."""
    with open(os.path.join(REPO, path)) as f:
        text = f.read()
    body = text[text.index('kunit_tests(%s)]' % suite):]
    return re.findall(r'#\[test\]\s*fn (\w+)', body)


class InStepWithTheTree(unittest.TestCase):
    """The list says what the tree's plans, TEST_PROGS and suites promise."""

    def names(self, plan, variant, kind, mode=None):
        mode = mode or REQ.plans[plan][0]
        return [l.name for l in REQ.requirements(variant, mode, plan) if l.kind == kind]

    def test_every_script_of_each_plan(self):
        for plan in ('full', 'pasid'):
            for v in required.VARIANTS:
                for mode in REQ.plans[plan]:
                    self.assertEqual(sorted(self.names(plan, v, 'selftest', mode)),
                                     sorted(plan_scripts(plan)), (plan, v, mode))

    def test_every_case_of_each_script(self):
        # A script's cases in a cell: all of its plan, or none (skipped as a
        # whole, which an allowance must then allow).
        for plan in ('full', 'pasid'):
            for v in required.VARIANTS:
                for mode in REQ.plans[plan]:
                    cases = self.names(plan, v, 'case', mode)
                    for script in plan_scripts(plan):
                        n = cases.count(script)
                        if n == 0:
                            allows = [l.kind for l in REQ.allowances(v, mode, plan)
                                      if l.name == script]
                            self.assertEqual(sorted(allows), ['case', 'selftest'],
                                             (plan, v, mode, script))
                        else:
                            self.assertEqual(n, ktap_plan(script, plan), (plan, v, mode, script))

    def test_kunit_cases(self):
        for plan in ('full', 'pasid'):
            for v, suite, path in (('ours', 'iommu_reset_rust', 'drivers/iommu/reset.rs'),
                                   ('ours-c', 'rust_dma_streaming',
                                    'rust/kernel/dma/streaming.rs'),
                                   ('ours', 'rust_dma_streaming',
                                    'rust/kernel/dma/streaming.rs')):
                listed = [n.split('.', 1)[1] for n in self.names(plan, v, 'kunit')
                          if n.startswith(suite + '.')]
                self.assertEqual(sorted(listed), sorted(kunit_cases(path, suite)), (plan, v))
                self.assertIn(suite, self.names(plan, v, 'kunit'))
            self.assertEqual(self.names(plan, 'upstream', 'kunit'), [])

    def test_every_differential_row(self):
        # Each row of the differential table has its verdict required in
        # every cell of its mode.
        for mode in ('legacy', 'scalable', 'pasid'):
            plan = results.PLAN_BY_MODE.get(mode, 'full')
            for v in required.VARIANTS:
                listed = set(l.name for l in REQ.requirements(v, mode, plan)
                             if l.kind in ('oracle', 'guest'))
                for gap, name in results.EXPECTED_GAPS_BY_MODE[mode]:
                    self.assertIn(name, listed, (mode, v, gap))


class WhatMustRun(unittest.TestCase):
    """A cell lacking a required result, or with a SKIP the list does not allow."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def test_complete_cells_pass(self):
        # Every cell of the list, upstream's allowed SKIPs included.
        for plan, modes in REQ.plans.items():
            for mode in modes:
                for v in required.VARIANTS:
                    with self.subTest(cell=(v, mode)):
                        root = os.path.join(self.root, '%s-%s' % (v, mode))
                        self.assertEqual(problems(Cell(v, mode), root), [])

    def test_importer_does_not_see_a_dropped_script(self):
        # Before: a script dropped from TEST_PROGS is never run, and its
        # absence fails nothing; the runner's plan shrinks with it.
        log = Cell('ours', 'legacy', drop=['reset_binding.sh']).tests_log()
        self.assertEqual([d for st, d in ktap_import.parse(log.splitlines(), 'c')
                          if st == 'fail'], [])

    def test_missing_selftest_fails(self):
        got = problems(Cell('ours', 'legacy', drop=['reset_binding.sh']), self.root)
        self.assertIn('missing: selftest reset_binding.sh', '\n'.join(got))
        # and each of its cases
        self.assertEqual(len([p for p in got if p.startswith('missing: reset_binding.sh: ')]),
                         ktap_plan('reset_binding.sh'))

    def test_missing_oracle_verdict_fails(self):
        got = problems(Cell('ours-c', 'scalable', drop=['sample-race']), self.root)
        self.assertEqual(len(got), 1)
        self.assertIn('missing: oracle verdict sample-race', got[0])

    def test_patched_cell_skipping_a_script_fails(self):
        # The sample module fails to load: the script skips as a whole, which
        # upstream may (no Rust), ours may not.
        why = 'no rust_dma_reset module (CONFIG_SAMPLE_RUST_DMA_RESET)'
        cell = Cell('ours', 'legacy', skip_all={'reset_sample.sh': why})
        log = cell.tests_log()
        self.assertIn(('skip', 'c: reset_sample.sh: ' + why),
                      ktap_import.parse(log.splitlines(), 'c'))
        got = problems(cell, self.root)
        self.assertIn('unexpected SKIP: selftests: iommu/reset: reset_sample.sh', got)
        self.assertIn('unexpected SKIP: reset_sample.sh: ' + why, got)
        self.assertIn('missing: reset_sample.sh: bind rust_dma_reset to *', '\n'.join(got))
        self.assertEqual(problems(Cell('upstream', 'legacy'), os.path.join(self.root, 'u')), [])

    def test_patched_cell_skipping_a_case_fails(self):
        # The sibling fails to bind: "multifunction: no sibling function given".
        cell = Cell('ours-c', 'legacy', skip={'reset_sample.sh': ['multifunction: *']})
        got = problems(cell, self.root)
        self.assertEqual(got, ['unexpected SKIP: reset_sample.sh: multifunction: x'])

    def test_pasid_cases_must_run_in_mode_pasid(self):
        # Allowed in plan full's modes (no PASIDs there), not in mode pasid.
        skipped = {'reset_group.sh': ['PASIDs around a reset: *']}
        got = problems(Cell('ours', 'pasid', skip=skipped), self.root)
        self.assertEqual(got, ['unexpected SKIP: reset_group.sh: PASIDs around a reset: x'])

    def test_missing_kunit_suite_fails(self):
        cell = Cell('ours', 'scalable', drop=['iommu_reset_rust'])
        self.assertNotIn('iommu_reset_rust', cell.console_log())
        got = problems(cell, self.root)
        self.assertIn('missing: KUnit iommu_reset_rust (required.txt:', '\n'.join(got))
        self.assertEqual(len(got), 1 + len(kunit_cases('drivers/iommu/reset.rs',
                                                       'iommu_reset_rust')))

    def test_no_console_log_fails(self):
        d = Cell('ours-c', 'pasid').write(self.root)
        os.unlink(os.path.join(d, 'console.log'))
        got = required.check_run(REQ, 'ours-c', 'pasid', 'pasid', d)[3]
        self.assertTrue(got)
        self.assertTrue(all(p.startswith('missing: KUnit') for p in got), got)

    def test_skipped_kunit_case_fails(self):
        d = Cell('ours', 'legacy').write(self.root)
        path = os.path.join(d, 'console.log')
        with open(path) as f:
            text = f.read()
        with open(path, 'w') as f:
            f.write(text.replace(' nested_prepare_done', ' nested_prepare_done # SKIP'))
        got = required.check_run(REQ, 'ours', 'legacy', 'full', d)[3]
        self.assertEqual(got, ['unexpected SKIP: kunit iommu_reset_rust.nested_prepare_done'])

    def test_cli(self):
        d = Cell('ours', 'legacy', drop=['reset_binding.sh']).write(self.root)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            required.main(['ours', 'legacy', 'full', d, 'ours/legacy/full'])
        lines = out.getvalue().splitlines()
        self.assertTrue(lines and all(l.startswith('fail\tours/legacy/full: what must run: ')
                                      for l in lines), lines)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            required.main(['ours', 'pasid', 'pasid', Cell('ours', 'pasid').write(self.root)])
        self.assertRegex(out.getvalue(), r'^ok\tours/pasid/pasid: what must run: all \d+ ')
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            required.main(['ours', 'amd', 'full', self.root])
        self.assertRegex(out.getvalue(), r'^skip\t.*lists no cell of mode amd')


class ParityOfSkips(unittest.TestCase):
    """results.parity(): a SKIP on both is no agreement on a required result."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def pair(self, mode='legacy', **kw):
        for v in ('ours-c', 'ours'):
            Cell(v, mode, **kw).write(self.root)
        return results.parity(self.root, 'full', [mode])

    def test_same_verdicts(self):
        rows, bad = self.pair()
        self.assertEqual(bad, [])
        # Plan full's modes have no PASIDs: two allowed SKIPs, on both.
        self.assertIn('(2 of them allowed SKIPs)', rows[1][4])
        self.assertEqual(rows[1][5], 'none')

    def test_both_skip_a_required_script(self):
        why = 'no rust_dma_reset module (CONFIG_SAMPLE_RUST_DMA_RESET)'
        rows, bad = self.pair(skip_all={'reset_sample.sh': why})
        self.assertEqual(len(bad), 2, bad)
        self.assertTrue(all('SKIP on both ours-c and ours' in b and 'MISSING' in b
                            for b in bad), bad)
        self.assertIn('selftests: iommu/reset: reset_sample.sh', '\n'.join(bad))
        self.assertIn('2 SKIP on both, not compared', rows[1][5])

    def test_both_skip_a_required_case(self):
        rows, bad = self.pair(mode='pasid',
                              skip={'reset_group.sh': ['pasid-quarantine on *']})
        self.assertEqual(len(bad), 1, bad)
        self.assertIn('pasid-quarantine on x', bad[0])

    def test_results_main_fails_a_cell_that_misses_a_result(self):
        for mode in ('legacy', 'pasid'):
            for v in required.VARIANTS:
                Cell(v, mode, drop=['reset_power.sh'] if (v, mode) == ('ours', 'legacy')
                     else ()).write(self.root)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = results.main(['--variants=upstream,ours-c,ours',
                               '--required=' + required.DEFAULT, self.root, 'full',
                               'legacy', 'pasid'])
        text = out.getvalue()
        self.assertEqual(rc, 1)
        self.assertIn('MISSING EVIDENCE: what must run ours/legacy/full: missing: selftest '
                      'reset_power.sh', text)
        table = text.split('What must run (required.txt)')[1].split('\n\n')[0]
        self.assertEqual(table.count('PASS'), 5)
        self.assertEqual(table.count('FAIL'), 1)


if __name__ == '__main__':
    unittest.main()
