#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Summarise the oracle results of VM runs as one table, C vs Rust.

Usage: results.py RUNS_DIR PLAN MODE [MODE...] [--variants=v1,v2,...]
                  [--lint=LINT_LOG] [--required=LIST]
Reads RUNS_DIR/<variant>-<mode>-<plan>/{oracle.txt,tests.log} (tests.log is
the guest's test channel). Exits 1 when a cell has no result or fails the
oracle table's rules, or when a row of the differential table is missing,
blind or not shown: missing evidence fails, and blind is never a pass.
With --required (make check: tools/harness/required.txt), also when a cell
lacks a result the list requires or has a SKIP that it does not allow (a
table of its own; the cells' console.log gives their KUnit results), and
the parity of ours-c and ours counts a SKIP on both as agreement only where
the list allows both (required.txt by default).

The oracle table's rules (its header): a cell passes only with at least one
clean expectation, each with resets seen and none of them with a
device-IOTLB invalidation in a window ("inv in windows" 0), and at least
one negative control, each with resets seen and invalidations in its
windows ("neg.ctl inv" >= 1). A cell without any oracle expectation is
"n/a (no oracle)", never PASS. "after last" is the fewest device-IOTLB
invalidations a clean phase's function got after its last reset (the
oracle fails a clean phase that shows no re-attachment; "-" where the
oracle did not count them).

A differential row is "shown" only when upstream's phase was seen (resets,
for a clean or negative-control expectation; the function's traffic, for
no-block) and the defect counted there (XFAIL), and every patched variant
passes; "n/a" when upstream cannot show it (SKIP) and no patched variant
fails; "BLIND" when the oracle did not see the phase in one of the variants;
"MISSING" when one has no verdict; "NOT shown" otherwise (among others, when
upstream passes: the gap was not reproduced).
"""

import collections
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ktap_import  # noqa: E402
import required  # noqa: E402

HELPERS = {'upstream': 'C (7.3)', 'ours-c': 'C (patched)', 'ours': 'Rust'}

# Every row of the differential table that plan "full" must produce, per
# IOMMU mode: (known gap of 7.3, test). A row whose verdict did not arrive
# from a cell fails the check. The AMD-Vi cells have one ATS function (their
# trace carries no device ID), so the two-function group rows are not there.
EXPECTED_GAPS = [
    ('bus-reset-unhooked', 'reset-subordinate'),
    ('bus-reset-unhooked', 'hot-reset'),
    ('bus-reset-unhooked', 'aer-bus-reset'),
    ('bus-reset-unhooked', 'bus-siblings'),
    ('probe-blocks', 'reset-method-probe'),
    ('unquarantined', 'failed-reset'),
    ('reattach-unblocked', 'reattach-failed'),
    ('alias-blocking', 'alias-block'),
    ('alias-blocking', 'alias-unblock'),
    ('alias-blocking', 'alias-block-flush'),
    ('unquarantined', 'pasid-quarantine'),
    ('removal-fence', 'removal-unfences'),
    ('power-unfenced', 'runtime-pm'),
    ('power-unfenced', 'runtime-pm-blocked'),
    ('power-unfenced', 'attach-while-asleep'),
    ('power-unfenced', 'attach-deferred'),
    ('power-unfenced', 'system-sleep-freeze'),
    ('power-unfenced', 'system-sleep-mem'),
    ('power-unfenced', 'bridge-walk'),
    ('power-unfenced', 'bridge-walk-unwind'),
    ('power-unfenced', 'bridge-walk-locked'),
]
# AMD-Vi: the single-function rows (reset_gaps.sh on 02:00.0); VT-d legacy
# and scalable mode: all but the PASID row, which needs PASIDs; mode pasid
# (VT-d scalable mode with PASIDs, plan "pasid"): the rows of reset_group.sh.
_VTD_GAPS = [g for g in EXPECTED_GAPS if g[1] != 'pasid-quarantine']
EXPECTED_GAPS_BY_MODE = {
    'amd': [g for g in EXPECTED_GAPS if g[1] in (
        'reset-subordinate', 'hot-reset', 'aer-bus-reset', 'reset-method-probe', 'failed-reset',
        'reattach-failed')],
    'legacy': _VTD_GAPS,
    'scalable': _VTD_GAPS,
    'pasid': [g for g in EXPECTED_GAPS if g[1] in (
        'alias-block', 'alias-unblock', 'pasid-quarantine', 'removal-unfences')]}
# The modes whose cells run a plan of their own, whatever the table's plan.
PLAN_BY_MODE = {'pasid': 'pasid'}
# The modes without an oracle: mode pasid's IOMMU sends no device-IOTLB
# invalidation (QEMU 10.0 cannot combine PASIDs with device-IOTLBs), so its
# cells have the guest's verdicts only. In plan "full" every other mode's
# cells must have oracle expectations.
NO_ORACLE_MODES = ('pasid',)
EXPECT_RE = re.compile(r'# oracle-expect phase=(\d+) name=\S+ bdf=(\S+) expect=([\w-]+)'
                       r'( gap=\S+)?')


def run_dir(runs, variant, mode, plan):
    """The run directory of one cell."""
    return '%s/%s-%s-%s' % (runs, variant, mode, PLAN_BY_MODE.get(mode, plan))


def load(run_dir):
    """(oracle JSON, console text) of one run, or None."""
    res = required.oracle_json(run_dir)
    con = required.read_lines(os.path.join(run_dir, 'tests.log'))
    if res is None or con is None:
        return None
    return res, ''.join(con)


def expectations(con):
    """{(phase, bdf): (expect, tagged with a gap)} of a guest's test channel."""
    return {(int(m.group(1)), m.group(2)): (m.group(3), bool(m.group(4)))
            for m in EXPECT_RE.finditer(con)}


def oracle_cell(res, exp):
    """The oracle table's verdict of one cell: (word, problem or None).

    exp: the cell's expectations without a gap ({(phase, bdf): expect}).
    Applies the header's rules to the rows themselves, whatever the
    verdicts say: see the module documentation.
    """
    rows = {(r['phase'], r['bdf']): r for r in res['rows']}
    # The failed verdicts themselves are results of their own (check.sh).
    failed = sum(1 for v in res['verdicts'] if not v.get('gap') and not v['ok'])
    clean = sorted(k for k, e in exp.items() if e == 'clean')
    neg = sorted(k for k, e in exp.items() if e == 'violation')
    if not clean and not neg:
        if failed:
            return 'FAIL', '%d oracle verdicts failed' % failed
        return 'n/a (no oracle)', None
    why = []
    if failed:
        why.append('%d oracle verdicts failed' % failed)
    if not clean:
        why.append('no clean expectation')
    if not neg:
        why.append('no negative control')
    for k in clean + neg:
        r = rows.get(k)
        if not r or not r['resets']:
            why.append('phase %d on %s: no reset seen (BLIND)' % k)
        elif k in clean and r['inv_in_windows']:
            why.append('phase %d on %s: %d invalidations in windows, expected 0'
                       % (k + (r['inv_in_windows'],)))
        elif k in neg and not r['inv_in_windows']:
            why.append('phase %d on %s (negative control): no invalidation in windows, '
                       'expected >= 1' % k)
    if not res['verdicts']:
        why.append('no verdict')
    return ('FAIL', '; '.join(why)) if why else ('PASS', None)


def row(variant, mode, run_dir, plan='full'):
    """One cell of the oracle table: (columns, problem or None)."""
    helpers = HELPERS.get(variant, variant)
    got = load(run_dir)
    if not got:
        return (variant, helpers, mode) + ('-',) * 8 + ('no result',), 'no result'
    res, con = got
    # Expectations tagged gap= go to the differential table instead.
    exp = {k: e for k, (e, gap) in expectations(con).items() if not gap}
    ops = sum(int(x) for x in re.findall(r'load ops (\d+)', con))
    lat = re.search(r'# sample-stats .*latency_us=min,(\d+),median,(\d+),p99,(\d+),max,(\d+)', con)
    lat = '%.1f/%.1f' % (int(lat.group(2)) / 1000, int(lat.group(3)) / 1000) if lat else '-'
    word, problem = oracle_cell(res, exp)
    if word.startswith('n/a'):
        if plan == 'full' and mode not in NO_ORACLE_MODES:
            problem = 'no oracle expectation in a mode with an oracle (MISSING)'
        return (variant, helpers, mode, '-', str(ops), '-', '-', '-', '-', '-', lat,
                word), problem
    clean = [r for r in res['rows'] if exp.get((r['phase'], r['bdf'])) == 'clean']
    neg = [r for r in res['rows'] if exp.get((r['phase'], r['bdf'])) == 'violation']
    resets = sum(r['resets'] for r in clean)
    after = [r['inv_after_last'] for r in clean if r.get('inv_after_last') is not None]
    return (variant, helpers, mode, str(resets), str(ops),
            str(sum(r['inv_in_windows'] for r in clean)),
            '%d/%d' % (sum(r['ats_off_before'] for r in clean), resets),
            str(sum(r['resets'] for r in neg)),
            str(sum(r['inv_in_windows'] for r in neg)),
            str(min(after)) if after else '-', lat, word), problem


def main(argv):
    variants = ['upstream', 'ours']
    args = []
    lint = None
    req = None
    for a in argv:
        if a.startswith('--required='):
            req = a.split('=', 1)[1]
        elif a.startswith('--variants='):
            variants = a.split('=', 1)[1].split(',')
        elif a.startswith('--lint='):
            lint = a.split('=', 1)[1]
        else:
            args.append(a)
    runs, plan, modes = args[0], args[1], args[2:]
    hdr = ('variant', 'helpers', 'IOMMU', 'resets', 'load ops', 'inv in windows',
           'ATS off', 'neg.ctl resets', 'neg.ctl inv', 'after last', 'sample ms med/p99',
           'oracle')
    rows = [hdr]
    bad = []
    for mode in modes:
        for v in variants:
            cells, problem = row(v, mode, run_dir(runs, v, mode, plan), plan)
            rows.append(cells)
            if problem:
                bad.append('oracle table: %s/%s: %s' % (v, mode, problem))
    print('Oracle results, plan %s (QEMU TCG; "inv in windows" must be 0, '
          '"neg.ctl inv" >= 1; "after last": the fewest invalidations of a clean phase\'s '
          'function after its last reset; n/a: a cell without an oracle)' % plan)
    table(rows)
    if plan == 'full' and 'upstream' in variants:
        grows, gbad = gap_table(runs, plan, modes, variants)
        cols = len(grows[0])
        bad += gbad
        if lint:
            misuse = misuse_row(lint)
            if not misuse:
                misuse = ('unbalanced-prepare-done', 'rust-misuse', 'build', 'n/a (no API)',
                          '-', 'MISSING')
                bad.append('differential row unbalanced-prepare-done: no compile-fail '
                           'result in %s (MISSING)' % lint)
            elif misuse[4] != 'PASS':
                bad.append('differential row unbalanced-prepare-done: a misuse of the '
                           'reset token builds, or its positive control does not')
            if cols > len(misuse):
                misuse = misuse[:4] + ('n/a',) + misuse[4:]
            grows.append(misuse)
        print()
        print('Beyond upstream: each row must fail on upstream and pass on ours')
        table(grows)
    if req is not None:
        try:
            req = required.load(req)
        except (OSError, required.ListError) as e:
            bad.append('what must run: the list %s is unreadable (%s): MISSING' % (req, e))
            req = None
        else:
            rrows, rbad = required_table(req, runs, plan, modes, variants)
            bad += rbad
            print()
            print('What must run (%s): every required result arrived, and no SKIP that the '
                  'list does not allow' % req.source)
            table(rrows)
    if 'ours-c' in variants and 'ours' in variants:
        prows, pbad = parity(runs, plan, modes, req=req)
        bad += pbad
        print()
        print('Parity: the C (ours-c) and Rust (ours) helpers of the patched tree, '
              'every verdict of the same plan')
        table(prows)
    for b in bad:
        print('MISSING EVIDENCE: ' + b if 'MISSING' in b or 'no result' in b else 'FAILED: ' + b)
    return 1 if bad else 0


def table(rows):
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print('  '.join(c.ljust(x) for c, x in zip(r, w)).rstrip())


def misuse_row(lint):
    """The type-state token's row, from the compile-fail tests in the lint log.

    7.3 has no Rust reset API to misuse, so there is nothing to run there: the
    row shows that an unbalanced prepare/done does not compile on ours.
    """
    try:
        with open(lint) as f:
            log = f.read()
    except OSError:
        return None
    cases = re.findall(r'^(ok|not ok) rust misuse (\S+): (.*)$', log, re.M)
    if not cases:
        return None
    ok = all(st == 'ok' for st, _, _ in cases)
    codes = ','.join(re.sub(r'.*rejected with (\S+).*', r'\1', why)
                     for st, _, why in cases if 'rejected' in why)
    return ('unbalanced-prepare-done', 'rust-misuse (%s)' % codes, 'build', 'n/a (no API)',
            'PASS' if ok else 'FAIL', 'compile time, ours only')


# The word of a differential verdict in its cell, by the oracle's status.
GAP_WORDS = {'ok': 'PASS', 'fail': 'FAIL', 'xfail': 'FAIL (XFAIL)', 'skip': 'n/a',
             'blind': 'BLIND'}
ORACLE_VERDICT_RE = re.compile(r'^oracle: phase (\d+) \S+ on (%s)\b' % required.BDF)


def gap_word(verdict, rows, exp):
    """The word of one differential verdict of one cell.

    rows: the cell's oracle rows by (phase, bdf); exp: its expectations
    (see expectations()). An oracle verdict whose phase the oracle did not
    see is BLIND whatever its status says: no reset in the phase of a clean
    or negative-control expectation, nothing of the function in the phase
    of a no-block one. A baseline that passes does not reproduce the gap.
    """
    st = required.verdict_result(verdict).status
    word = GAP_WORDS.get(st, st.upper())
    if st == 'fail' and 'not reproduced' in verdict['what']:
        word = 'FAIL (not reproduced)'
    m = ORACLE_VERDICT_RE.match(verdict['what'])
    if m and st in ('ok', 'fail', 'xfail'):
        key = (verdict.get('phase', int(m.group(1))), verdict.get('bdf', m.group(2)))
        kind = verdict.get('expect') or exp.get(key, (None, None))[0]
        r = rows.get(key)
        if kind == 'no-block':
            seen = r is not None
        elif kind in ('attached', 'blocks'):
            # No reset in the phase: the defect's own observable is the
            # absence of invalidations (attached) or of a blocking (blocks,
            # which the oracle itself calls blind when the blocking it
            # refers to is not in the trace).
            seen = True
        else:
            seen = bool(r and r['resets'])
        if not seen:
            word = 'BLIND'
    return word


def gap_table(runs, plan, modes, variants, expected=None):
    """The differential table: each known gap of 7.3, upstream vs ours.

    Returns (rows, problems): every expected (gap, test) row in every mode,
    and one problem per row that is not "shown" or "n/a" (see the module
    documentation): missing from a cell, blind, or not shown.
    """
    status = {}
    order = []
    for mode in modes:
        if expected is None:
            want = EXPECTED_GAPS_BY_MODE.get(mode, EXPECTED_GAPS)
        else:
            want = expected
        for gap, name in want:
            order.append((gap, name, mode))
            status[(gap, name, mode)] = {}
    for mode in modes:
        for v in variants:
            got = load(run_dir(runs, v, mode, plan))
            if not got:
                continue
            res, con = got
            rows = {(r['phase'], r['bdf']): r for r in res['rows']}
            exp = expectations(con)
            for verdict in res['verdicts']:
                if not verdict.get('gap'):
                    continue
                name = required.verdict_result(verdict).name or verdict['what']
                key = (verdict['gap'], name, mode)
                if key not in status:
                    status[key] = {}
                    order.append(key)
                word = gap_word(verdict, rows, exp)
                # Two verdicts of one row in one cell must agree.
                prev = status[key].get(v)
                status[key][v] = word if prev in (None, word) else 'MIXED (%s, %s)' % (prev, word)
    with_c = 'ours-c' in variants
    patched_variants = (('ours-c',) if with_c else ()) + ('ours',)
    rows = [('gap of 7.3', 'test', 'IOMMU', 'upstream') + (('ours-c',) if with_c else ())
            + ('ours', 'differential')]
    problems = []
    for key in order:
        cells = {v: status[key].get(v, '-') for v in ('upstream',) + patched_variants}
        up = cells['upstream']
        patched = [cells[v] for v in patched_variants]
        if '-' in cells.values():
            verdict = 'MISSING'
            problems.append('differential row %s/%s/%s: no verdict from %s (MISSING)'
                            % (key + (' and '.join(v for v, s in cells.items() if s == '-'),)))
        elif 'BLIND' in cells.values():
            verdict = 'BLIND'
            problems.append('differential row %s/%s/%s: the oracle did not see the phase '
                            'in %s (BLIND)' % (key + (' and '.join(
                                v for v, s in cells.items() if s == 'BLIND'),)))
        elif up == 'FAIL (XFAIL)' and all(p == 'PASS' for p in patched):
            verdict = 'shown'
        elif up == 'n/a' and all(p in ('PASS', 'n/a') for p in patched):
            # Not observable on upstream: no defect of 7.3 shown, none hidden.
            verdict = 'n/a'
        else:
            verdict = 'NOT shown'
            problems.append('differential row %s/%s/%s: %s (NOT shown)' % (key + (', '.join(
                '%s %s' % vs for vs in cells.items()),)))
        rows.append(key + (up,) + tuple(patched) + (verdict,))
    return rows, problems


def _collect(run_dir):
    """Every verdict of one run: {key: [(status, required.Result)]}, or None.

    The keys are the guest's selftest results (from its test channel) and the
    oracle's verdicts, with the numbers in their descriptions folded (counts
    and timestamps may differ between two boots, the verdict may not).
    """
    got = load(run_dir)
    if not got:
        return None
    res, con = got
    out = collections.defaultdict(list)
    for st, desc in ktap_import.parse(con.splitlines(), 'guest'):
        out[re.sub(r'\d+', 'N', desc)].append(
            (st, required.selftest_result(st, desc[len('guest: '):])))
    for v in res['verdicts']:
        r = required.verdict_result(v)
        kind = 'differential' if v.get('gap') else 'oracle'
        out['%s: %s' % (kind, re.sub(r'\d+', 'N', v['what']))].append((r.status, r))
    return out


def _statuses(got):
    """{key: sorted statuses} of a run's _collect()."""
    return {k: sorted(st for st, _ in v) for k, v in got.items()}


def parity(runs, plan, modes, c='ours-c', rust='ours', req=None):
    """The parity table: every verdict of the C and the Rust helpers, per mode.

    Returns (rows, problems): one row per mode, and one problem per verdict
    that differs (or that only one of them has) and per missing run.

    A SKIP on both is no agreement: nothing was compared. It counts as
    "same" only when the list of required results (req, a
    required.Required; required.txt by default) allows both SKIPs; on a
    result the list does not allow to skip it is a problem of its own. In a
    mode the list has no cells of (AMD-Vi), it is neither.
    """
    problems = []
    if req is None:
        try:
            req = required.load()
        except (OSError, required.ListError) as e:
            # Nothing is allowed to skip: every SKIP on both is a problem.
            problems.append('parity: the list of required results is unreadable (%s): '
                            'MISSING' % e)
            req = required.Required('', 'no list')
    rows = [('IOMMU', 'selftest results', 'oracle verdicts', 'differential rows',
             'same on both', 'differences')]
    for mode in modes:
        cells = {c: _collect(run_dir(runs, c, mode, plan)),
                 rust: _collect(run_dir(runs, rust, mode, plan))}
        if None in cells.values():
            missing = ' and '.join(v for v in (c, rust) if cells[v] is None)
            rows.append((mode, '-', '-', '-', '-', 'no result from ' + missing))
            problems.append('parity %s: no result from %s (MISSING)' % (mode, missing))
            continue
        a, b = _statuses(cells[c]), _statuses(cells[rust])
        mplan = PLAN_BY_MODE.get(mode, plan)
        keys = sorted(set(a) | set(b))
        diff = [k for k in keys if a.get(k) != b.get(k)]
        for k in diff:
            problems.append('parity %s: %s: %s %s, %s %s' % (
                mode, k, c, ','.join(a.get(k, ['-'])), rust, ','.join(b.get(k, ['-']))))
        # Skipped on both: allowed (by the list), or not compared at all.
        both_skip = [k for k in keys if k not in diff and set(a[k]) == {'skip'}]
        allowed = not_compared = 0
        for k in both_skip:
            if not req.covers(mode, mplan):
                not_compared += 1
            elif all(req.allowed(v, mode, mplan, r) for v in (c, rust) for _, r in cells[v][k]):
                allowed += 1
            else:
                not_compared += 1
                problems.append('parity %s: %s: SKIP on both %s and %s, which %s does not '
                                'allow: a required result, nothing compared (MISSING)'
                                % (mode, k, c, rust, req.source))
        n = {kind: str(sum(len(b.get(k) or a[k]) for k in keys if k.startswith(kind + ':')))
             for kind in ('guest', 'oracle', 'differential')}
        same = str(len(keys) - len(diff) - not_compared)
        if allowed:
            same += ' (%d of them allowed SKIPs)' % allowed
        differences = str(len(diff)) if diff else 'none'
        if not_compared:
            differences = '%s; %d SKIP on both, not compared' % (differences, not_compared)
        rows.append((mode, n['guest'], n['oracle'], n['differential'], same, differences))
    return rows, problems


def required_table(req, runs, plan, modes, variants):
    """The table of what must run: each cell against the list (required.txt).

    Returns (rows, problems): a row per cell, and a problem per required
    result that did not arrive and per SKIP that the list does not allow
    (see required.py). A cell of a mode the list does not cover is "not
    listed", a cell without a run directory "no result".
    """
    rows = [('variant', 'IOMMU', 'plan', 'required', 'arrived', 'SKIP allowed',
             'SKIP not allowed', 'what must run')]
    problems = []
    for mode in modes:
        mplan = PLAN_BY_MODE.get(mode, plan)
        for v in variants:
            d = run_dir(runs, v, mode, plan)
            if not req.covers(mode, mplan):
                rows.append((v, mode, mplan, '-', '-', '-', '-', 'not listed'))
                continue
            if not os.path.isdir(d):
                n = len(req.requirements(v, mode, mplan))
                rows.append((v, mode, mplan, str(n), '0', '-', '-', 'no result'))
                problems.append('what must run %s/%s/%s: no result' % (v, mode, mplan))
                continue
            n, present, allowed, bad = required.check_run(req, v, mode, mplan, d)
            unexpected = sum(1 for p in bad if p.startswith('unexpected SKIP'))
            rows.append((v, mode, mplan, str(n), str(present), str(allowed), str(unexpected),
                         'FAIL' if bad else 'PASS'))
            for p in bad:
                problems.append('what must run %s/%s/%s: %s%s' % (
                    v, mode, mplan, p, ' (MISSING)' if p.startswith('missing') else ''))
    return rows, problems


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
