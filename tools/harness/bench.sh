#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench: boot ours-c (C helpers) and ours (Rust helpers), the same tree
# and the same Rust sample driver, on the same QEMU topology, run the bench
# plan in each, and print the numbers side by side with ratios Rust/C.
# Results also go to $OUT_ROOT/bench.json. TCG timings only mean something
# as ratios from one run.

set -euo pipefail
. "$(dirname "$0")/lib.sh"

phases_start
n=${BENCH_RESETS:-1000}
case $n in ''|*[!0-9]*) die "BENCH_RESETS=$n is not a number" ;; esac
for s in deps.sh fetch-base.sh prepare.sh; do "$HARNESS_DIR/$s"; done
for v in ours-c ours; do
	phase_begin "build $v"; "$HARNESS_DIR/build.sh" $v; phase_end
	"$HARNESS_DIR/modules.sh" $v
	"$HARNESS_DIR/mkinitramfs.sh" $v
done
for v in ours-c ours; do
	phase_begin "bench $v"
	VM_TIMEOUT=$((n / 3 + 900)) VM_APPEND="bench_resets=$n" \
		"$HARNESS_DIR/run-vm.sh" $v bench legacy || true
	phase_end
done
echo
phases_print
echo
python3 - "$OUT_ROOT" <<'PY'
import json, re, sys
out = sys.argv[1]
res = {}
for v in ('ours-c', 'ours'):
    d = {}
    try:
        con = open('%s/runs/%s-legacy-bench/tests.log' % (out, v), errors='replace').read()
    except OSError:
        con = ''
    for m in re.finditer(r'^# bench (\S+) (.*)$', con, re.M):
        d[m.group(1)] = dict(x.split('=', 1) for x in m.group(2).split() if '=' in x)
    m = re.search(r'^# bench reset_us min,(\d+),median,(\d+),p99,(\d+),max,(\d+)', con, re.M)
    if m:
        d['reset_us'] = dict(zip(('min', 'median', 'p99', 'max'), m.groups()))
    res[v] = d
json.dump(res, open(out + '/bench.json', 'w'), indent=1, sort_keys=True)


def num(v, key, field):
    try:
        return float(res[v][key][field])
    except (KeyError, ValueError):
        return None


rows = [('metric', 'C (ours-c)', 'Rust (ours)', 'Rust/C')]


def add(label, key, field, fmt='%.0f'):
    c, r = num('ours-c', key, field), num('ours', key, field)
    ratio = '%.2f' % (r / c) if c and r is not None else '-'
    rows.append((label, fmt % c if c is not None else '-',
                 fmt % r if r is not None else '-', ratio))


for f in ('median', 'p99', 'max'):
    add('prepare() ns, %s' % f, 'prepare_ns', f)
for f in ('median', 'p99', 'max'):
    add('done() ns, %s' % f, 'done_ns', f)
add('group->mutex hold max us', 'group_mutex', 'hold_max_us', '%.2f')
add('group->mutex hold total us', 'group_mutex', 'hold_total_us', '%.1f')
add('group->mutex wait max us', 'group_mutex', 'wait_max_us', '%.2f')
add('group->mutex acquisitions', 'group_mutex', 'acquisitions')
for f in ('median', 'p99', 'max'):
    add('reset end to end us, %s' % f, 'reset_us', f)
for key, label in (('other_group', 'sibling group'), ('own_group', 'own group')):
    add('%s map ops/s, idle' % label, key, 'ops_per_s_idle')
    add('%s map ops/s, reset storm' % label, key, 'ops_per_s_storm')
w = [max(len(r[i]) for r in rows) for i in range(4)]
print('Benchmark (QEMU TCG, legacy VT-d, one run each: only the ratios mean something)')
for r in rows:
    print('  '.join(c.ljust(x) for c, x in zip(r, w)).rstrip())
print()
for v in ('ours-c', 'ours'):
    share = iso = '-'
    p, d, r = (num(v, 'prepare_ns', 'median'), num(v, 'done_ns', 'median'),
               num(v, 'reset_us', 'median'))
    if None not in (p, d, r) and r:
        share = '%.4f%%' % (100 * (p + d) / (r * 1000))
    parts = []
    for key in ('other_group', 'own_group'):
        a, b = num(v, key, 'ops_per_s_idle'), num(v, key, 'ops_per_s_storm')
        parts.append('%s %s' % (key.replace('_', ' '),
                                '%.0f%%' % (100 * b / a) if a and b is not None else '-'))
    print('%-7s helpers take %s of a reset; throughput under the storm vs idle: %s'
          % (v, share, ', '.join(parts)))
print('RFC v1 design (mutex held across the reset) would hold group->mutex for the '
      'whole reset: %s us median.' % (res.get('ours', {}).get('reset_us', {}).get('median', '-')))
print('results: %s/bench.json' % out)
PY
