#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make run: build both variants, boot each under QEMU with the demo plan
# (resets under DMA load plus the raw-FLR negative control) and print one
# table: resets, load operations, oracle counts, C (upstream) vs ours.

set -euo pipefail
. "$(dirname "$0")/lib.sh"

T0=$(date +%s)
mkdir -p "$OUT_ROOT"
: > "$OUT_ROOT/phases.txt"
ORACLE=$REPO_DIR/tools/oracle/iommu_reset_oracle.py
PLAN=${PLAN:-smoke}
MODE=${MODE:-legacy}

for s in deps.sh fetch-base.sh prepare.sh; do
	phase_begin "${s%.sh}"; "$HARNESS_DIR/$s"; phase_end
done
for v in upstream ours; do
	phase_begin "build $v"; "$HARNESS_DIR/build.sh" $v; phase_end
done
for v in upstream ours; do
	"$HARNESS_DIR/modules.sh" $v
	"$HARNESS_DIR/mkinitramfs.sh" $v
done

rc=0
for v in upstream ours; do
	phase_begin "vm $v/$MODE/$PLAN"
	"$HARNESS_DIR/run-vm.sh" $v "$PLAN" "$MODE" || rc=1
	run=$OUT_ROOT/runs/$v-$MODE-$PLAN
	python3 "$ORACLE" "$run/trace.log" --console "$run/console.log" --label "$v" \
		> "$run/oracle.txt" 2>&1 || rc=1
	phase_end
done

echo
echo "Phases:"
cat "$OUT_ROOT/phases.txt"
printf '%-28s %4ds\n' total $(( $(date +%s) - T0 ))
echo
python3 - "$OUT_ROOT/runs" "$MODE" "$PLAN" <<'PY'
import json, re, sys
base, mode, plan = sys.argv[1:]
print('Results (%s mode, plan %s; QEMU TCG, one run each)' % (mode, plan))
hdr = ('variant', 'helpers', 'resets', 'load ops', 'inv in reset windows',
       'neg. control resets', 'neg. control inv', 'verdict')
rows = [hdr]
for v, helpers in (('upstream', 'C (7.3)'), ('ours', 'Rust')):
    d = '%s/%s-%s-%s' % (base, v, mode, plan)
    try:
        js = next(l for l in open(d + '/oracle.txt') if l.startswith('ORACLE-JSON'))
        res = json.loads(js.split(' ', 1)[1])
        con = open(d + '/console.log', errors='replace').read()
    except (OSError, StopIteration):
        rows.append((v, helpers, '-', '-', '-', '-', '-', 'no result'))
        continue
    exp = {}
    for m in re.finditer(r'# oracle-expect phase=(\d+) name=\S+ bdf=(\S+) expect=(\w+)', con):
        exp[(int(m.group(1)), m.group(2))] = m.group(3)
    ops = sum(int(x) for x in re.findall(r'load ops (\d+)', con))
    clean = [r for r in res['rows'] if exp.get((r['phase'], r['bdf'])) == 'clean']
    neg = [r for r in res['rows'] if exp.get((r['phase'], r['bdf'])) == 'violation']
    ok = all(x['ok'] for x in res['verdicts']) and res['verdicts']
    rows.append((v, helpers, str(sum(r['resets'] for r in clean)), str(ops),
                 str(sum(r['inv_in_windows'] for r in clean)),
                 str(sum(r['resets'] for r in neg)),
                 str(sum(r['inv_in_windows'] for r in neg)),
                 'PASS' if ok else 'FAIL'))
w = [max(len(r[i]) for r in rows) for i in range(len(hdr))]
for r in rows:
    print('  '.join(c.ljust(x) for c, x in zip(r, w)).rstrip())
PY
exit $rc
