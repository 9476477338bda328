#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""What must run: check a cell's results against tools/harness/required.txt.

Usage: required.py [--list=FILE] VARIANT MODE PLAN RUN_DIR [LABEL]

Reads RUN_DIR/tests.log (the guest's test channel: the selftests' KTAP),
RUN_DIR/console.log (the kernel log: KUnit) and RUN_DIR/oracle.txt (the
trace oracle's verdicts), and prints "STATUS<TAB>DESCRIPTION" lines for
check.sh: a failure for every required result that did not arrive and for
every SKIP that the list does not allow in the cell, or one ok line; a skip
line when the list has no cells of MODE (AMD-Vi, which make check runs only
with AMD_CELLS=1). DESIGN.md section 5: what must run is listed; a missing
result or an unexpected skip fails.

The list's format is described in its header.
"""

import fnmatch
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ktap_import  # noqa: E402

DEFAULT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'required.txt')
VARIANTS = ('upstream', 'ours-c', 'ours')
PATCHED = ('ours-c', 'ours')
KINDS = ('selftest', 'case', 'kunit', 'oracle', 'guest')
# Kinds whose lines may carry a pattern (the rest of the line).
PATTERN_KINDS = ('case', 'oracle', 'guest')
# The most problems the command line prints one by one.
MAX_LINES = 20

BDF = r'[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]'
RUNNER_RE = re.compile(r'^selftests: (\S+): (\S+)$')
VERDICT_RE = re.compile(r'^(?:oracle: phase \d+|guest:) (\S+) on %s(?: \([^)]*\))?(?:: (.*))?$'
                        % BDF, re.S)


class ListError(Exception):
    pass


class Result:
    """One result of a cell: KIND NAME, DETAIL (what a pattern matches), STATUS."""

    def __init__(self, kind, name, detail, status, text):
        self.kind = kind
        self.name = name
        self.detail = detail
        self.status = status
        self.text = text

    def __repr__(self):
        return 'Result(%r, %r, %r, %r)' % (self.kind, self.name, self.detail, self.status)


class Line:
    """One line of the list: a requirement, or an allowance (allow=True)."""

    def __init__(self, plan, variants, modes, kind, name, pattern, allow, reason, where):
        self.plan = plan
        self.variants = variants
        self.modes = modes
        self.kind = kind
        self.name = name
        self.pattern = pattern
        self.allow = allow
        self.reason = reason
        self.where = where

    def applies(self, variant, mode, plan):
        return plan == self.plan and variant in self.variants and mode in self.modes

    def matches(self, r):
        if r.kind != self.kind or r.name != self.name:
            return False
        return self.pattern is None or fnmatch.fnmatchcase(r.detail or '', self.pattern)

    def describe(self):
        what = {'selftest': 'selftest %s' % self.name,
                'case': '%s: %s' % (self.name, self.pattern or '*'),
                'kunit': 'KUnit %s' % self.name,
                'oracle': 'oracle verdict %s' % self.name,
                'guest': 'guest verdict %s (oracle)' % self.name}[self.kind]
        if self.kind != 'case' and self.pattern:
            what += ': ' + self.pattern
        return what


def _set(word, allowed, what, where):
    if word == '*':
        return tuple(allowed)
    out = []
    for w in word.split(','):
        if w == 'patched' and what == 'variant':
            out += PATCHED
        elif w in allowed:
            out.append(w)
        else:
            raise ListError('%s: unknown %s %r (expected %s)'
                            % (where, what, w, ', '.join(allowed)))
    return tuple(out)


class Required:
    """The parsed list: its plans (each with its modes) and its lines."""

    def __init__(self, text, source='required.txt'):
        self.source = source
        self.plans = {}
        self.lines = []
        plan = None
        for n, raw in enumerate(text.splitlines(), 1):
            where = '%s:%d' % (source, n)
            line = raw.strip()
            if not line or line.startswith('#'):
                continue
            words = line.split()
            if words[0] == 'plan':
                if len(words) != 3:
                    raise ListError('%s: expected "plan NAME MODE[,MODE...]"' % where)
                plan = words[1]
                if plan in self.plans:
                    raise ListError('%s: plan %s opened twice' % (where, plan))
                self.plans[plan] = tuple(words[2].split(','))
                continue
            if plan is None:
                raise ListError('%s: a line before the first "plan"' % where)
            allow = words[0] == 'allow'
            reason = None
            if allow:
                line = line[len('allow'):].strip()
                if ' -- ' not in line:
                    raise ListError('%s: an allowance needs its reason ("-- REASON")' % where)
                line, reason = line.split(' -- ', 1)
                reason = reason.strip()
                if not reason:
                    raise ListError('%s: an allowance needs its reason' % where)
            elif ' -- ' in line:
                raise ListError('%s: " -- REASON" belongs to "allow" lines' % where)
            words = line.split(None, 4)
            if len(words) < 4:
                raise ListError('%s: expected VARIANTS MODES KIND NAME [PATTERN]' % where)
            variants = _set(words[0], VARIANTS, 'variant', where)
            modes = _set(words[1], self.plans[plan], 'mode', where)
            kind, name = words[2], words[3]
            if kind not in KINDS:
                raise ListError('%s: unknown kind %r (expected %s)'
                                % (where, kind, ', '.join(KINDS)))
            pattern = words[4].strip() if len(words) > 4 else None
            if pattern is not None and kind not in PATTERN_KINDS:
                raise ListError('%s: a %s line has no pattern' % (where, kind))
            if kind == 'case' and pattern is None:
                raise ListError('%s: a case line needs the pattern of its description' % where)
            self.lines.append(Line(plan, variants, modes, kind, name, pattern, allow, reason,
                                   where))

    def covers(self, mode, plan):
        """True when the list has the cells of MODE in PLAN."""
        return mode in self.plans.get(plan, ())

    def requirements(self, variant, mode, plan):
        return [l for l in self.lines if not l.allow and l.applies(variant, mode, plan)]

    def allowances(self, variant, mode, plan):
        return [l for l in self.lines if l.allow and l.applies(variant, mode, plan)]

    def allowed(self, variant, mode, plan, result):
        """The allowance of the cell that allows RESULT's SKIP, or None."""
        for l in self.allowances(variant, mode, plan):
            if l.matches(result):
                return l
        return None

    def check(self, variant, mode, plan, results):
        """(required, present, allowed skips, problems) of one cell's results.

        problems: one line per required result that did not arrive
        ("missing: ...") and per SKIP that no allowance of the cell allows
        ("unexpected SKIP: ...").
        """
        problems = []
        reqs = self.requirements(variant, mode, plan)
        present = 0
        for l in reqs:
            if any(l.matches(r) for r in results):
                present += 1
            else:
                problems.append('missing: %s (%s)' % (l.describe(), l.where))
        allowed = 0
        for r in results:
            if r.status != 'skip':
                continue
            if self.allowed(variant, mode, plan, r):
                allowed += 1
            else:
                problems.append('unexpected SKIP: %s' % r.text)
        return len(reqs), present, allowed, problems


def load(path=None):
    path = path or DEFAULT
    with open(path) as f:
        return Required(f.read(), os.path.basename(path))


def selftest_result(status, desc):
    """A Result from one of ktap_import.parse()'s descriptions (without its prefix)."""
    m = RUNNER_RE.match(desc)
    if m:
        return Result('selftest', m.group(2), '', status, desc)
    script, _, detail = desc.partition(': ')
    return Result('case', script, detail, status, desc)


def verdict_result(verdict):
    """A Result from one of the oracle's JSON verdicts."""
    what = verdict['what']
    status = verdict.get('status', 'ok' if verdict['ok'] else 'fail')
    m = VERDICT_RE.match(what)
    kind = 'oracle' if what.startswith('oracle:') else 'guest'
    if not m:
        return Result(kind, None, what, status, what)
    return Result(kind, m.group(1), m.group(2) or '', status, what)


def kunit_result(status, name):
    return Result('kunit', name, '', status, 'kunit ' + name)


def read_lines(path):
    try:
        with open(path, errors='replace') as f:
            return f.readlines()
    except OSError:
        return None


def oracle_json(run_dir):
    """The oracle's JSON document of a run (its ORACLE-JSON line), or None."""
    for line in read_lines(os.path.join(run_dir, 'oracle.txt')) or ():
        if line.startswith('ORACLE-JSON '):
            try:
                return json.loads(line.split(' ', 1)[1])
            except ValueError:
                return None
    return None


def oracle_verdicts(run_dir):
    """The oracle's JSON verdicts of a run, or None."""
    return (oracle_json(run_dir) or {}).get('verdicts')


def results_of(run_dir):
    """Every result of one run directory, as Results (nothing for a missing file)."""
    out = []
    log = read_lines(os.path.join(run_dir, 'tests.log'))
    if log is not None:
        for status, desc in ktap_import.parse(log, 'guest'):
            out.append(selftest_result(status, desc[len('guest: '):]))
    console = read_lines(os.path.join(run_dir, 'console.log'))
    if console is not None:
        out += [kunit_result(st, name) for st, name in ktap_import.parse_kunit(console)]
    out += [verdict_result(v) for v in oracle_verdicts(run_dir) or ()]
    return out


def check_run(req, variant, mode, plan, run_dir):
    """required.check() of a run directory."""
    return req.check(variant, mode, plan, results_of(run_dir))


def main(argv):
    path = None
    args = []
    for a in argv:
        if a.startswith('--list='):
            path = a.split('=', 1)[1]
        else:
            args.append(a)
    if len(args) not in (4, 5):
        sys.stderr.write(__doc__)
        return 2
    variant, mode, plan, run_dir = args[:4]
    label = args[4] if len(args) > 4 else '%s/%s/%s' % (variant, mode, plan)
    try:
        req = load(path)
    except (OSError, ListError) as e:
        print('fail\t%s: what must run: the list of required results is unreadable (%s)'
              % (label, e))
        return 0
    if not req.covers(mode, plan):
        print('skip\t%s: what must run: %s lists no cell of mode %s, plan %s'
              % (label, req.source, mode, plan))
        return 0
    n, present, allowed, problems = check_run(req, variant, mode, plan, run_dir)
    # A boot that produced little would list every result: the first ones
    # say what happened, results.py's "MISSING EVIDENCE" lines list all.
    for p in problems[:MAX_LINES]:
        print('fail\t%s: what must run: %s' % (label, p))
    if len(problems) > MAX_LINES:
        print('fail\t%s: what must run: and %d more (missing, or a SKIP the list does not allow)'
              % (label, len(problems) - MAX_LINES))
    if not problems:
        print('ok\t%s: what must run: all %d required results arrived, no SKIP that %s '
              'does not allow (%d allowed)' % (label, n, req.source, allowed))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
