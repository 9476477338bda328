#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Kernel splats and hangs in the host's complete console log of one boot.

Usage: console_scan.py [--baseline] [--hung] LABEL CONSOLE

The guest scans its own kernel log at the end of its plan, but that is the
printk ring (128 KiB): a report early in a long boot has rolled out of it by
then, and a guest that hangs scans nothing. The host keeps the whole kernel
console (the first serial port, console.log): this reads all of it.

Prints "STATUS<TAB>DESCRIPTION" lines for check.sh (STATUS ok or fail; "#"
for a line of diagnostics):

  ok    LABEL: console clean
  fail  LABEL: console: FIRST MATCHING LINE (and N more)

What counts: KASAN and UBSAN reports, lockdep ("possible recursive
locking", "possible circular locking", "inconsistent lock state",
"suspicious RCU usage"), "WARNING:", "BUG:", "Oops", a kernel panic, RCU
stalls ("... detected stall(s)"), hung tasks ("blocked for more than").

--baseline: the kernel is the 7.3 baseline (variant upstream), on which a
selftest marks the splats it provokes to show a known gap between the
kernel log lines "iommu_reset selftest: expected splat begin" and "...
end": those regions are skipped, on the baseline only; a region that never
ends is itself a failure (it would hide the rest of the log).

--hung: run-vm.sh stopped this boot as hung: first a failure with the last
line of the console, and its last lines as diagnostics (a hang is a result,
even when the cell's second boot passes).
"""

import re
import sys

SPLAT_RE = re.compile(
    r'BUG: KASAN|UBSAN:|possible recursive locking|possible circular locking'
    r'|inconsistent lock state|suspicious RCU usage|WARNING:|BUG:|\bOops\b'
    r'|Kernel panic|detected stall|blocked for more than')
MARK_RE = re.compile(r'^(?:\[[^\]]*\]\s*)*iommu_reset selftest: expected splat (begin|end)$')
# Terminal control sequences (SeaBIOS clears the screen) and other control bytes.
CTRL_RE = re.compile(r'\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-~]|[\x00-\x08\x0b-\x1f\x7f]')
STAMP_RE = re.compile(r'^\[[ 0-9.]+\]')
TAIL_LINES = 10
MAX_DESC = 160


def clean(line):
    """A console line without line end and terminal control sequences."""
    return CTRL_RE.sub('', line.rstrip('\r\n').replace('\t', ' ')).rstrip()


def describe(line):
    """A console line fit for a KTAP description: no '#', one short line."""
    line = clean(line).replace('#', '').strip()
    return line if len(line) <= MAX_DESC else line[:MAX_DESC - 3] + '...'


def scan(lines, baseline=False):
    """([(line number, line)] of the splats, problem or None).

    On the baseline the expected-splat regions are skipped; a region that
    does not end is the problem.
    """
    found = []
    begun = None
    for n, raw in enumerate(lines, 1):
        line = clean(raw)
        m = MARK_RE.match(line) if baseline else None
        if m:
            if m.group(1) == 'begin':
                begun = begun or n
            else:
                begun = None
            continue
        if begun is None and SPLAT_RE.search(line):
            found.append((n, line))
    problem = None
    if begun is not None:
        problem = ('the expected-splat region begun at line %d never ended '
                   '(the rest of the log was not scanned)' % begun)
    return found, problem


def results(label, lines, baseline=False, hung=False):
    """The (status, description) lines of one boot's console."""
    out = []
    if hung:
        # Lines with a message (not only a printk timestamp).
        tail = [l for l in (clean(x) for x in lines) if STAMP_RE.sub('', l).strip()]
        tail = tail[-TAIL_LINES:]
        out.append(('fail', '%s: boot hung (stopped by run-vm.sh): console tail: %s'
                    % (label, describe(tail[-1]) if tail else '(empty console)')))
        out += [('#', l) for l in tail]
    found, problem = scan(lines, baseline)
    if found:
        more = ' (and %d more)' % (len(found) - 1) if len(found) > 1 else ''
        out.append(('fail', '%s: console: %s%s' % (label, describe(found[0][1]), more)))
        out += [('#', 'console.log:%d: %s' % (n, l)) for n, l in found[:TAIL_LINES]]
    elif problem:
        out.append(('fail', '%s: console: %s' % (label, problem)))
    else:
        out.append(('ok', '%s: console clean' % label))
    return out


def main(argv):
    flags = [a for a in argv if a.startswith('--')]
    args = [a for a in argv if not a.startswith('--')]
    if len(args) != 2 or set(flags) - {'--baseline', '--hung'}:
        sys.stderr.write(__doc__)
        return 2
    label, path = args
    try:
        with open(path, errors='replace') as f:
            lines = f.readlines()
    except OSError as e:
        print('fail\t%s: console log missing (%s)' % (label, e.strerror))
        return 0
    for status, desc in results(label, lines, '--baseline' in flags, '--hung' in flags):
        print('%s\t%s' % (status, desc))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
