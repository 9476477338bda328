#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""make bench's report: the bench plan's "# bench" lines of interleaved boots
of ours-c (C helpers) and ours (Rust helpers), as tables of the median of
the per-boot medians with the spread (lowest-highest per-boot value),
ratios Rust/C, and the issue's targets marked met or not.

Usage: bench_report.py DIR BOOTS JSON [SHIFT]
  DIR holds VARIANT-N.log (the guest test channel of boot N of VARIANT).
  SHIFT: the guests ran with QEMU's -icount shift=SHIFT, so a guest
  nanosecond is 2^-SHIFT instructions; times are then printed as guest
  instructions.
"""

import json
import re
import statistics
import sys

VARIANTS = ('ours-c', 'ours')
GROUP_SIZES = (1, 2, 4, 8)
# The guests' -icount shift, or None (the host's clock).
ICOUNT_SHIFT = None


def parse(text):
    """Returns {key: {field: value}} of one boot's "# bench" lines; the
    helpers lines are keyed helpers@GROUP_SIZE."""
    d = {}
    for m in re.finditer(r'^# bench (\S+) (.*)$', text, re.M):
        key, rest = m.group(1), m.group(2)
        fields = dict(x.split('=', 1) for x in rest.split() if '=' in x)
        if key == 'helpers':
            key = 'helpers@%s' % fields.get('group', '?')
        elif key == 'reset_us':
            m2 = re.match(r'min,(\d+),median,(\d+),p99,(\d+),max,(\d+)', rest)
            if m2:
                fields.update(zip(('min', 'median', 'p99', 'max'), m2.groups()))
        elif key == 'error':
            d.setdefault('errors', []).append(rest)
            continue
        d[key] = fields
    return d


def value(boot, key, field):
    try:
        return float(boot[key][field])
    except (KeyError, ValueError):
        return None


class Stat:
    """The per-boot values of one metric of one variant."""

    def __init__(self, values):
        self.values = [v for v in values if v is not None]

    def median(self):
        return statistics.median(self.values) if self.values else None

    def spread(self):
        return (min(self.values), max(self.values)) if self.values else None


def load(directory, boots):
    runs = {v: [] for v in VARIANTS}
    for v in VARIANTS:
        for b in range(1, boots + 1):
            try:
                text = open('%s/%s-%d.log' % (directory, v, b), errors='replace').read()
            except OSError:
                text = ''
            runs[v].append(parse(text))
    return runs


def insn(n):
    """A count of instructions, in thousands or millions."""
    if n >= 1e6:
        return '%.2f M insn' % (n / 1e6)
    if n >= 1000:
        return '%.1f k insn' % (n / 1000)
    return '%.0f insn' % n


def fmt(x, unit):
    if x is None:
        return '-'
    if ICOUNT_SHIFT is not None and unit in ('ns', 'us'):
        return insn(x * (1000 if unit == 'us' else 1) / 2 ** ICOUNT_SHIFT)
    if unit == 'ns':
        return '%.1f us' % (x / 1000)
    if unit == 'us':
        return '%.1f ms' % (x / 1000) if x >= 10000 else '%.0f us' % x
    if unit == '%':
        return '%.0f %%' % x
    return '%.0f' % x


def cell(stat, unit):
    m, s = stat.median(), stat.spread()
    if m is None:
        return '-'
    if len(stat.values) < 2:
        return fmt(m, unit)
    text = fmt(m, unit)
    suffix = re.sub(r'^[-0-9.]+', '', text)

    def bare(x):
        t = fmt(x, unit)
        return t[:len(t) - len(suffix)] if suffix and t.endswith(suffix) else t
    return '%s (%s-%s)' % (text, bare(s[0]), bare(s[1]))


def table(title, rows):
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print(title)
    for r in rows:
        print('  '.join(c.ljust(x) for c, x in zip(r, w)).rstrip())
    print()


def main():
    global ICOUNT_SHIFT
    directory, boots, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if len(sys.argv) > 4:
        ICOUNT_SHIFT = int(sys.argv[4])
    runs = load(directory, boots)
    stats = {}

    def stat(v, key, field, f=None):
        s = Stat([f(b) if f else value(b, key, field) for b in runs[v]])
        stats.setdefault(v, {})['%s.%s' % (key, field)] = s.values
        return s

    def ratio(c, r):
        mc, mr = c.median(), r.median()
        return '%.2f' % (mr / mc) if mc and mr is not None else '-'

    header = ('metric', 'C (ours-c)', 'Rust (ours)', 'Rust/C')
    n = min(len([b for b in runs[v] if b]) for v in VARIANTS)
    print('Benchmark: %d interleaved boot(s) of each kernel (ours-c, ours, ...), '
          'QEMU TCG, legacy VT-d.' % n)
    if ICOUNT_SHIFT is None:
        print("Clock: the host's (TCG timings; only the ratios mean anything).")
    else:
        print('Clock: QEMU -icount shift=%d: times are the guest instructions executed '
              '(by either vCPU) in them.' % ICOUNT_SHIFT)
    print('Each cell: median of the per-boot medians (lowest-highest per-boot value).')
    print()

    rows = [header]
    for key, label in (('total', 'prepare()+done()'), ('prepare', 'prepare()'),
                       ('done', 'done()'), ('attach', '  in __iommu_attach_device()'),
                       ('own', "  helpers' own (probed - attach)")):
        for q in ('median', 'p99'):
            c = stat('ours-c', 'helpers@1', '%s_%s' % (key, q))
            r = stat('ours', 'helpers@1', '%s_%s' % (key, q))
            rows.append(('%s, %s' % (label, q), cell(c, 'ns'), cell(r, 'ns'), ratio(c, r)))
    def probe_cost(b):
        t, p = value(b, 'helpers@1', 'total_median'), value(b, 'helpers@1', 'probed_median')
        return p - t if t is not None and p is not None else None
    c, r = stat('ours-c', 'helpers@1', 'probe', probe_cost), stat('ours', 'helpers@1', 'probe', probe_cost)
    rows.append(('  kretprobe cost (probed - total), median', cell(c, 'ns'), cell(r, 'ns'),
                 ratio(c, r)))
    c = stat('ours-c', 'helpers@1', 'attaches')
    r = stat('ours', 'helpers@1', 'attaches')
    rows.append(('attaches per round', cell(c, ''), cell(r, ''), ratio(c, r)))
    table('Helpers alone, group of 1 (02:00.0), no probe on the helpers:', rows)

    rows = [('group size',) + tuple('%s %s' % (v, q) for v in VARIANTS for q in ('median', 'x1'))]
    growth = {}
    one = {v: stat(v, 'helpers@1', 'total_median').median() for v in VARIANTS}
    for g in GROUP_SIZES:
        row = ['%d' % g]
        for v in VARIANTS:
            s = stat(v, 'helpers@%d' % g, 'total_median')
            m = s.median()
            row += [cell(s, 'ns'), '%.2f' % (m / one[v]) if m and one[v] else '-']
            growth.setdefault(v, {})[g] = m / one[v] if m and one[v] else None
        rows.append(tuple(row))
    table('prepare()+done() by group size (one function of a group of N):', rows)

    rows = [header]
    for key, field, label, unit in (
            ('reset_us', 'median', 'reset end to end, median', 'us'),
            ('reset_us', 'p99', 'reset end to end, p99', 'us'),
            ('group_mutex', 'hold_max_us', 'group->mutex hold, max', 'us'),
            ('group_mutex', 'wait_max_us', 'group->mutex wait, max', 'us'),
            ('group_mutex', 'acquisitions', 'group->mutex acquisitions', '')):
        c, r = stat('ours-c', key, field), stat('ours', key, field)
        rows.append((label, cell(c, unit), cell(r, unit), ratio(c, r)))
    keep = {}
    for key, label in (('other_group', 'sibling group'), ('own_group', 'own group')):
        def share(b, key=key):
            a, s = value(b, key, 'ops_per_s_idle'), value(b, key, 'ops_per_s_storm')
            return 100 * s / a if a and s is not None else None
        c, r = stat('ours-c', key, 'storm_share', share), stat('ours', key, 'storm_share', share)
        keep[key] = (c.median(), r.median())
        rows.append(('%s map ops/s, storm vs idle' % label, cell(c, '%'), cell(r, '%'), '-'))
    table('Reset storm (sample FLRs of 01:00.0 under load):', rows)

    def met(ok):
        return '-' if ok is None else ('met' if ok else 'NOT met')

    def ratio_of(key):
        c = stat('ours-c', 'helpers@1', key).median()
        r = stat('ours', 'helpers@1', key).median()
        return r / c if c and r is not None else None

    targets = []
    for q in ('median', 'p99'):
        x = ratio_of('own_%s' % q)
        targets.append(("Rust/C helpers' own time, %s <= 1.00" % q,
                        '-' if x is None else '%.2f' % x, met(None if x is None else x <= 1.0)))
    for v in VARIANTS:
        s = keep['other_group'][VARIANTS.index(v)]
        targets.append(('%s: sibling group throughput in the storm >= 95 %% of idle' % v,
                        '-' if s is None else '%.0f %%' % s, met(None if s is None else s >= 95)))
    for v in VARIANTS:
        x = growth.get(v, {}).get(8)
        targets.append(('%s: prepare()+done() at 8 functions <= 8x at 1' % v,
                        '-' if x is None else '%.2fx' % x, met(None if x is None else x <= 8)))
    table('Targets:', [('target', 'measured', 'verdict')] + targets)

    errors = ['%s #%d: %s' % (v, i + 1, e) for v in VARIANTS
              for i, b in enumerate(runs[v]) for e in b.get('errors', [])]
    for v in VARIANTS:
        for i, b in enumerate(runs[v]):
            if not b:
                errors.append('%s #%d: no bench output' % (v, i + 1))
    for e in errors:
        print('bench error: %s' % e)
    json.dump({'boots': runs, 'per_boot_values': stats}, open(out, 'w'), indent=1, sort_keys=True)
    print('results: %s' % out)
    return 1 if errors or n == 0 else 0


if __name__ == '__main__':
    sys.exit(main())
