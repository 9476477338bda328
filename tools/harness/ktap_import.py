#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Import the guest's KTAP (its test channel) as host test results.

Usage: ktap_import.py LOG PREFIX
       ktap_import.py --kunit CONSOLE

LOG is the guest's test channel (a serial port of its own; the kernel log
goes to another one), holding the KTAP of the selftests, run directly or
through kselftest's run_kselftest.sh, whose runner nests each test's output
behind "# ". Prints one "STATUS<TAB>DESCRIPTION" line per result, STATUS
being ok, fail, skip or xfail:

  - every test case of every (nested) KTAP document;
  - a failure for every document whose plan ("1..N") does not match the
    results that arrived (lost or garbled output), for a document without
    a plan, for a test the runner reports ("selftests: DIR: TEST") whose
    own KTAP never arrived, and for a log without any KTAP at all.

Missing evidence is a failure, never a silent pass.

With --kunit, CONSOLE is a boot's kernel log: prints one "STATUS<TAB>NAME"
line per KUnit result in it (see parse_kunit). Which suites must be there
is tools/harness/required.txt's business (required.py).
"""

import re
import sys

RESULT_RE = re.compile(r'^(not ok|ok) (\d+)(?: (.*))?$')
PLAN_RE = re.compile(r'^1\.\.(\d+)(?:\s*#\s*SKIP\s*(.*))?$')
HDR_RE = re.compile(r'^selftests: (\S+): (\S+)$')


def depth_of(line):
    """(nesting depth, line without the runner's "# " prefixes)."""
    depth = 0
    while line.startswith('# '):
        line = line[2:]
        depth += 1
    return depth, line


class Doc:
    """One KTAP document: a "TAP version" header and what follows it."""

    def __init__(self, depth, name):
        self.depth = depth
        self.name = name
        self.plan = None
        self.skip_all = None
        self.results = 0
        self.children = 0


def status_of(res, rest):
    if '# SKIP' in rest:
        return 'skip'
    if '# XFAIL' in rest:
        return 'xfail'
    return 'ok' if res == 'ok' else 'fail'


def parse(lines, prefix):
    """The (status, description) list of one guest log."""
    out = []
    docs = []      # open documents, outermost first
    closed = []
    header = None  # name from the runner's "# selftests: DIR: TEST" line

    def close_to(depth):
        while docs and docs[-1].depth >= depth:
            closed.append(docs.pop())

    for raw in lines:
        line = raw.rstrip('\r\n').rstrip('\r')
        depth, body = depth_of(line)
        if body.startswith('TAP version'):
            close_to(depth)
            name = header if header and depth > 0 else 'document %d' % (len(closed) + len(docs) + 1)
            if docs and docs[-1].depth < depth:
                docs[-1].children += 1
            docs.append(Doc(depth, name))
            continue
        m = HDR_RE.match(body)
        if m and depth == 1:
            header = m.group(2)
            continue
        m = PLAN_RE.match(body)
        if m and docs and docs[-1].depth == depth:
            docs[-1].plan = int(m.group(1))
            if m.group(2) is not None:
                docs[-1].skip_all = m.group(2).strip() or 'skipped'
            continue
        m = RESULT_RE.match(body)
        if not m:
            continue
        # A result closes the documents nested below it (the runner prints
        # the test's output, then its result).
        close_to(depth + 1)
        if not docs or docs[-1].depth != depth:
            # A result outside any document: count it, but it has no plan.
            docs.append(Doc(depth, 'results without a KTAP header'))
        doc = docs[-1]
        doc.results += 1
        desc = (m.group(3) or '').strip()
        runner = HDR_RE.match(re.sub(r'\s*#.*$', '', desc))
        if runner:
            # The runner's result of one test: the test's own KTAP, nested
            # behind it, must have arrived.
            if doc.children == 0:
                out.append(('fail', '%s: %s: the test\'s own KTAP did not arrive'
                            % (prefix, runner.group(2))))
            doc.children = 0
        text = re.sub(r'\s*#\s*(SKIP|XFAIL).*$', '', desc)
        if depth > 0 and doc.name:
            text = '%s: %s' % (doc.name, text)
        out.append((status_of(m.group(1), desc), '%s: %s' % (prefix, text)))
    close_to(0)

    if not closed:
        out.append(('fail', '%s: guest test channel holds no KTAP' % prefix))
    for doc in closed:
        if doc.skip_all is not None:
            out.append(('skip', '%s: %s: %s' % (prefix, doc.name, doc.skip_all)))
        elif doc.plan is None:
            out.append(('fail', '%s: %s: no KTAP plan (output lost?), %d results'
                        % (prefix, doc.name, doc.results)))
        elif doc.plan != doc.results:
            out.append(('fail', '%s: %s: %d results of %d planned (output lost or garbled)'
                        % (prefix, doc.name, doc.results, doc.plan)))
    return out


KUNIT_SUBTEST_RE = re.compile(r'(\s*)# Subtest: (\S+)')
KUNIT_RESULT_RE = re.compile(r'(\s*)(not ok|ok) \d+ (\S+)(.*)')
KUNIT_TIME_RE = re.compile(r'^\[[ 0-9.]+\] ')


def parse_kunit(lines):
    """The KUnit results of a kernel log: [(status, name)], status ok, fail or skip.

    Every top-level suite of this project and of the kernel crate (rust_*,
    iommu*), and the cases of this project's suites (iommu_reset*,
    rust_dma_streaming) as SUITE.CASE. A suite that runs more than once (a
    module's suite, at each load) is there each time.
    """
    out = []
    suite = None
    for raw in lines:
        line = KUNIT_TIME_RE.sub('', raw.rstrip())
        m = KUNIT_SUBTEST_RE.match(line)
        if m:
            suite = m.group(2)
            continue
        m = KUNIT_RESULT_RE.match(line)
        if not m:
            continue
        res = 'skip' if '# SKIP' in m.group(4) else ('ok' if m.group(2) == 'ok' else 'fail')
        if m.group(1) == '' and m.group(3).startswith(('rust_', 'iommu')):
            out.append((res, m.group(3)))
        elif m.group(1) and suite and suite.startswith(('iommu_reset', 'rust_dma_streaming')):
            out.append((res, '%s.%s' % (suite, m.group(3))))
    return out


def main(argv):
    if len(argv) == 2 and argv[0] == '--kunit':
        try:
            with open(argv[1], errors='replace') as f:
                lines = f.readlines()
        except OSError:
            return 0
        for status, name in parse_kunit(lines):
            print('%s\t%s' % (status, name))
        return 0
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    try:
        with open(argv[0], errors='replace') as f:
            lines = f.readlines()
    except OSError as e:
        print('fail\t%s: guest test channel missing (%s)' % (argv[1], e.strerror))
        return 0
    for status, desc in parse(lines, argv[1]):
        print('%s\t%s' % (status, desc))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
