#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""External oracle for PCI reset vs. IOMMU invalidation races.

Reads QEMU's own trace (log backend, "-msg timestamp=on -trace vtd_inv_desc
-trace pci_cfg_write") and, for every reset of a PCI function seen in it,
defines the window during which the function may not answer ATS
invalidation requests:

  FLR   DEVCTL (PCIe cap + 0x8) written with Initiate FLR (bit 15), or
        AF_CTRL (Advanced Features cap + 0x4) with Initiate FLR (bit 0):
        [write, write + window]                 (PCIe r6 6.6.2, PCI AF ECN)
  PM    PMCSR (PM cap + 0x4) written to D3hot, then to D0:
        [D3hot write, D0 write + 10 ms]                   (PCI PM 1.2 5.4.1)
  SBR   Bridge Control (0x3e) Secondary Bus Reset (bit 6) set, then cleared,
        on any bridge above the function:
        [set, clear + window]                             (PCIe r6 6.6.1)

The guest waits those times on its own clock; under TCG it can run a few
percent ahead of the host clock that stamps the trace (the kernel's 100 ms
post-FLR wait was seen as 98.3 ms of host time), so the windows are shortened
by --clock-tolerance (default 5 %).

It then counts the Intel VT-d device-IOTLB invalidation descriptors whose
source-id is that function and that QEMU processed inside one of its
windows: each one is an invalidation that a real function under reset may
drop (VT-d "Invalidation Time-out Error"). Both descriptor types count:
"device" (Device-TLB Invalidate, source-id in bits 47:32 of the low word)
and "device-piotlb" (PASID-based Device-TLB Invalidate, QEMU 10, source-id
in bits 31:16).

With --amd the trace is of an AMD-Vi IOMMU: QEMU's "amdvi_iotlb_inval"
event (an INVALIDATE_IOTLB_PAGES command, the device-IOTLB invalidation)
carries no device ID, so the VM must have exactly one ATS function, to
which every such event is attributed; the raw-FLR negative control shows
that the attribution sees the invalidations.

A clean phase must also show the function working again after its resets
(DESIGN.md section 5: "clean" also means re-attached): a function that is
never unblocked passes every window. A blocked function gets no device-IOTLB
invalidation (VT-d legacy and scalable mode alike), so the oracle counts the
function's invalidations of the phase outside its windows (any phase's):
"after last", any of them after its last window up to the end of the phase,
and the load among them: invalidations of a range, not the flushes of the
whole device-IOTLB that blocking (prepare) itself sends just before each
reset. A clean phase fails ("not re-attached") when "after last" is 0 and
the load ran into the last reset (load in the gap before the last window),
or when the function had no load after its first window at all (never seen
attached again, or no load). Not judged, with a note: a phase whose load
stopped before its last reset after running between earlier ones (the last
resets were done without load), and a phase that ended inside its last
window (the guest moved on before the function could answer).

A secondary bus reset resets every function below the bridge, so a clean
expectation of one of them is judged on all of them: each other ATS
function that the same bus resets reset must have no invalidation in its
windows and must be re-attached as well; one that got no invalidation at
all in the phase leaves the verdict blind (no load reached it).

A domain change (an attach, or the blocking of prepare) flushes the
function's whole device-IOTLB in both VT-d modes; the load only invalidates
ranges. Expectation "no-attach" counts those flushes inside the function's
windows (an attach that reached it while it slept or was reset) and must see
none; its negative control "attach-reaches" must see at least one.

Where the registers sit comes from "# oracle-dev" lines in the guest's
test channel (its second serial port) (printed by the selftests), test phases from writes of the phase
number to the Interrupt Line register (0x3c) of the host bridge 00:00.0, and
what each phase must show from "# oracle-expect" lines. An FLR through the
Advanced Features capability is seen only where the description gives the
capability's offset (af=0xNN at the end of the line, or --dev ...,af=OFF);
without it such an FLR goes unseen (a phase with only those is blind).

Which functions a secondary bus reset resets comes from the bridges' bus
numbers (secondary 0x19, subordinate 0x1a, or the dword at 0x18), which the
firmware writes at the start of the trace: every described function on a bus
from the secondary to the subordinate one, through any number of switches.

The oracle refuses (exit status 2, a "FAIL: oracle: refused the trace" line
and no ORACLE-JSON) what it cannot read: an event without a timestamp, times
that go back by more than MAX_BACKSTEP_US, a secondary bus reset on a bridge
whose bus numbers the trace has not shown or that disagree with the
descriptions, and a write at 0x3c of a bridge in a secondary bus reset that
may be a dword clearing Bridge Control (the trace does not give the width).
"""

import argparse
import bisect
import json
import re
import sys
from collections import Counter, defaultdict

TRACE_RE = re.compile(r'^(?:\d+@(\d+)\.(\d+):)?(\w+) (.*)$')
CFG_RE = re.compile(r'^(\S+) ([0-9a-f]{2}):([0-9a-f]{2})\.([0-7]) '
                    r'@0x([0-9a-f]+) <- 0x([0-9a-f]+)$')
INV_RE = re.compile(r'invalidate desc type (\S+) high 0x([0-9a-f]+) '
                    r'low 0x([0-9a-f]+)')
DEV_RE = re.compile(r'# oracle-dev bdf=(\S+) exp=0x([0-9a-f]+) pm=0x([0-9a-f]+)'
                    r' ats=0x([0-9a-f]+) bridge=(\S+)(?: af=0x([0-9a-f]+))?')
EXPECT_RE = re.compile(r'# oracle-expect phase=(\d+) name=(\S+) bdf=(\S+) '
                       r'expect=(clean|violation|no-block|attached|no-attach|attach-reaches|blocks)'
                       r'(?: gap=(\S+))?(?: ref=(\S+))?')
GUEST_RE = re.compile(r'# guest-verdict name=(\S+) bdf=(\S+) gap=(\S+) ok=([01]|na)(?: (.*))?$')

MARKER_BDF = '0000:00:00.0'
MARKER_REG = 0x3c
PCI_PRIMARY_BUS = 0x18
PCI_SECONDARY_BUS = 0x19
PCI_SUBORDINATE_BUS = 0x1a
PCI_INTERRUPT_LINE = 0x3c
PCI_BRIDGE_CONTROL = 0x3e
PCI_BRIDGE_CTL_BUS_RESET = 0x40
PCI_EXP_DEVCTL = 0x8
PCI_EXP_DEVCTL_BCR_FLR = 0x8000
PCI_AF_CTRL = 0x4
PCI_AF_CTRL_FLR = 0x01
PCI_PM_CTRL = 0x4
PCI_ATS_CTRL = 0x6
PCI_ATS_CTRL_ENABLE = 0x8000
PM_RECOVERY_US = 10000
# Address bits 62:12 of a Device-TLB Invalidate of every address (see whole_flush()).
WHOLE_ADDR = 0x7ffffffffffff000
# QEMU's threads (one per vCPU) write the trace side by side: a line might
# carry a slightly earlier time than the one before it (the counting is by
# time, so that is harmless). A larger step back is another clock or another
# trace.
MAX_BACKSTEP_US = 10000
TRACE_EVENTS = ('pci_cfg_write', 'vtd_inv_desc', 'amdvi_iotlb_inval')


class TraceError(Exception):
    """Something in the trace the oracle cannot read: it refuses to judge."""


class DevInfo:
    """Where a function's reset and ATS registers are (0: absent)."""

    def __init__(self, bdf, exp=0, pm=0, ats=0, bridge=None, af=0):
        self.bdf = bdf
        self.exp = exp
        self.pm = pm
        self.ats = ats
        self.af = af
        self.bridge = None if bridge in (None, 'none') else bridge


class Reset:
    """One reset of one function and its no-answer window (microseconds)."""

    def __init__(self, bdf, kind, start, phase, ats_enabled):
        self.bdf = bdf
        self.kind = kind
        self.start = start
        self.end = None
        self.phase = phase
        self.ats_enabled = ats_enabled
        self.invalidations = 0
        self.flushes = 0    # of those, flushes of the whole device-IOTLB
        self.peers = ()     # the other functions one secondary bus reset reset


def bdf_str(bus, dev, fn):
    return '0000:%02x:%02x.%x' % (bus, dev, fn)


def parse_console(lines):
    """Device descriptions and expectations from a guest serial log."""
    devs, expects = {}, []
    for line in lines:
        m = DEV_RE.search(line)
        if m:
            bdf = m.group(1)
            devs[bdf] = DevInfo(bdf, int(m.group(2), 16), int(m.group(3), 16),
                                int(m.group(4), 16), m.group(5), int(m.group(6) or '0', 16))
            continue
        m = EXPECT_RE.search(line)
        if m:
            expects.append({'phase': int(m.group(1)), 'name': m.group(2),
                            'bdf': m.group(3), 'expect': m.group(4),
                            'gap': m.group(5), 'ref': m.group(6)})
            continue
        m = GUEST_RE.search(line)
        if m:
            expects.append({'phase': None, 'name': m.group(1), 'bdf': m.group(2),
                            'expect': 'guest', 'gap': m.group(3),
                            'ok': m.group(4) == '1', 'na': m.group(4) == 'na',
                            'detail': (m.group(5) or '').strip()})
    return devs, expects


class Oracle:
    """Single pass over a trace; see the module documentation."""

    def __init__(self, devs, window_us=100000, tolerance=0.0):
        self.devs = devs
        # The guest measures its waits on its own clock, which under TCG runs a
        # few percent off the host clock that stamps the trace.
        self.window_us = int(window_us * (1 - tolerance))
        self.pm_recovery_us = int(PM_RECOVERY_US * (1 - tolerance))
        self.phase = 0
        self.resets = []
        self.open_pm = {}
        self.open_sbr = {}
        self.ats = {}
        self.buses = {}                     # bdf -> [secondary, subordinate] written
        self.invs = defaultdict(list)       # bdf -> [t]
        self.invs_in_phase = defaultdict(list)  # (phase, bdf) -> [t]
        self.flushes = defaultdict(Counter)  # (phase, bdf) -> {t: whole flushes at t}
        self.phase_end = {}                 # phase -> t of the marker that left it
        self.reattach = {}                  # see _reattach()
        self.inv_total = defaultdict(int)   # (phase, bdf) -> n
        self.ats_disables = defaultdict(int)  # (phase, bdf) -> n
        self.lines = 0
        self.lineno = 0
        self.last_t = 0

    def refuse(self, why):
        raise TraceError('line %d: %s' % (self.lineno, why))

    def _bus_write(self, bdf, off, val):
        """Secondary/subordinate bus numbers of a bridge (byte or dword writes)."""
        if off == PCI_SECONDARY_BUS:
            self.buses.setdefault(bdf, [None, None])[0] = val & 0xff
        elif off == PCI_SUBORDINATE_BUS:
            self.buses.setdefault(bdf, [None, None])[1] = val & 0xff
        elif off == PCI_PRIMARY_BUS:
            # At 0x18 a function with a type 0 header has BAR2: its "bus numbers"
            # are read only if it turns out to be a bridge (a secondary bus reset).
            self.buses[bdf] = [(val >> 8) & 0xff, (val >> 16) & 0xff]

    def _below(self, bridge):
        """The described functions a secondary bus reset of bridge resets.

        Every function on a bus from the bridge's secondary bus to its
        subordinate one, whatever the switches in between; refuses when the
        trace has not shown the bus numbers, or when they disagree with the
        bridges the descriptions name.
        """
        sec, sub = self.buses.get(bridge, (None, None))
        if sec is None or sub is None or not 0 < sec <= sub:
            self.refuse('secondary bus reset on %s, whose bus numbers (secondary/'
                        'subordinate) the trace does not show: the functions it resets '
                        'are unknown' % bridge)
        below = sorted(d.bdf for d in self.devs.values()
                       if sec <= int(d.bdf.split(':')[1], 16) <= sub)
        named = sorted(d.bdf for d in self.devs.values() if d.bridge == bridge)
        stray = [f for f in named if f not in below]
        if stray:
            self.refuse('secondary bus reset on %s (buses %02x-%02x): %s, described as '
                        'below it, is not on those buses' % (bridge, sec, sub,
                                                             ', '.join(stray)))
        return below

    def _start(self, bdf, kind, t):
        r = Reset(bdf, kind, t, self.phase, self.ats.get(bdf))
        self.resets.append(r)
        return r

    def cfg_write(self, t, bdf, off, val):
        if bdf == MARKER_BDF and off == MARKER_REG:
            if val & 0xff != self.phase:
                self.phase_end[self.phase] = t
            self.phase = val & 0xff
            return
        self._bus_write(bdf, off, val)
        # Bridge Control may be written as a word at 0x3e or a dword at 0x3c.
        # The trace does not give the width: a value above 0xffff at 0x3c is a
        # dword; one below it is a byte or word (Interrupt Line and Pin), or a
        # dword that clears Bridge Control, which matters while an SBR is open.
        bctl = None
        if off == PCI_BRIDGE_CONTROL:
            bctl = val
        elif off == PCI_INTERRUPT_LINE and val > 0xffff:
            bctl = val >> 16
        elif off == PCI_INTERRUPT_LINE and bdf in self.open_sbr:
            self.refuse('write of 0x%x at 0x3c of %s during its secondary bus reset: a '
                        'byte or word write, or a dword write that clears Bridge Control '
                        '(the trace does not say which)' % (val, bdf))
        if bctl is not None:
            if bctl & PCI_BRIDGE_CTL_BUS_RESET:
                if bdf not in self.open_sbr:
                    rs = [self._start(f, 'sbr', t) for f in self._below(bdf)]
                    for r in rs:
                        r.peers = tuple(p.bdf for p in rs if p is not r)
                    self.open_sbr[bdf] = rs
            elif bdf in self.open_sbr:
                for r in self.open_sbr.pop(bdf):
                    r.end = t + self.window_us
        d = self.devs.get(bdf)
        if not d:
            return
        if d.exp and off == d.exp + PCI_EXP_DEVCTL and val & PCI_EXP_DEVCTL_BCR_FLR:
            r = self._start(bdf, 'flr', t)
            r.end = t + self.window_us
        # AF_CTRL is a byte (AF_STATUS follows): written as a byte, word or dword.
        if d.af and off == d.af + PCI_AF_CTRL and val & PCI_AF_CTRL_FLR:
            r = self._start(bdf, 'flr', t)
            r.end = t + self.window_us
        if d.pm and off == d.pm + PCI_PM_CTRL:
            state = val & 3
            if state == 3 and bdf not in self.open_pm:
                self.open_pm[bdf] = self._start(bdf, 'pm', t)
            elif state == 0 and bdf in self.open_pm:
                self.open_pm.pop(bdf).end = t + self.pm_recovery_us
        ats = None
        if d.ats and off == d.ats + PCI_ATS_CTRL:
            ats = bool(val & PCI_ATS_CTRL_ENABLE)
        elif d.ats and off == d.ats + PCI_ATS_CTRL - 2 and val > 0xffff:
            ats = bool((val >> 16) & PCI_ATS_CTRL_ENABLE)
        if ats is not None:
            if not ats and self.ats.get(bdf, True):
                self.ats_disables[(self.phase, bdf)] += 1
            self.ats[bdf] = ats

    def invalidation(self, t, typ, hi, lo):
        if typ == 'device':
            sid = (lo >> 32) & 0xffff
        elif typ == 'device-piotlb':
            sid = (lo >> 16) & 0xffff
        else:
            return
        self.device_invalidation(t, bdf_str(sid >> 8, (sid >> 3) & 0x1f, sid & 7),
                                 not whole_flush(typ, hi))

    def device_invalidation(self, t, bdf, load=True):
        """load: an invalidation of a range, not a flush of the whole device-IOTLB."""
        self.invs[bdf].append(t)
        self.invs_in_phase[(self.phase, bdf)].append(t)
        if not load:
            self.flushes[(self.phase, bdf)][t] += 1
        self.inv_total[(self.phase, bdf)] += 1

    def feed(self, lines, amd_function=None):
        """Reads a trace; amd_function: the one ATS function of an AMD-Vi VM.

        Raises TraceError on what it cannot read (see the module documentation).
        """
        for line in lines:
            self.lineno += 1
            m = TRACE_RE.match(line.rstrip('\n'))
            if not m:
                continue
            ev, args = m.group(3), m.group(4)
            if ev not in TRACE_EVENTS:
                continue
            if not m.group(1):
                self.refuse('%s without a timestamp (QEMU needs -msg timestamp=on): the '
                            'windows cannot be placed' % ev)
            self.lines += 1
            t = int(m.group(1)) * 1000000 + int(m.group(2))
            if t < self.last_t - MAX_BACKSTEP_US:
                self.refuse('time goes back by %d us (from %d.%06d to %d.%06d): not one '
                            'trace of one clock' % (self.last_t - t, self.last_t // 1000000,
                                                    self.last_t % 1000000, t // 1000000,
                                                    t % 1000000))
            self.last_t = max(self.last_t, t)
            if ev == 'pci_cfg_write':
                c = CFG_RE.match(args)
                if c:
                    bdf = bdf_str(int(c.group(2), 16), int(c.group(3), 16), int(c.group(4), 16))
                    self.cfg_write(t, bdf, int(c.group(5), 16), int(c.group(6), 16))
            elif ev == 'vtd_inv_desc':
                c = INV_RE.search(args)
                if c:
                    self.invalidation(t, c.group(1), int(c.group(2), 16), int(c.group(3), 16))
            elif ev == 'amdvi_iotlb_inval' and amd_function:
                self.device_invalidation(t, amd_function)

    def finish(self):
        """Close open windows at the end of the trace; count invalidations."""
        flush_times = defaultdict(list)     # bdf -> [t] of whole flushes
        for (_, bdf), at in self.flushes.items():
            for t, n in at.items():
                flush_times[bdf] += [t] * n
        for times in list(self.invs.values()) + list(flush_times.values()):
            # Lines a few microseconds out of order (see MAX_BACKSTEP_US).
            times.sort()
        for r in self.resets:
            if r.end is None:
                r.end = self.last_t
            times = self.invs.get(r.bdf, [])
            r.invalidations = (bisect.bisect_right(times, r.end) -
                               bisect.bisect_left(times, r.start))
            times = flush_times.get(r.bdf, [])
            r.flushes = (bisect.bisect_right(times, r.end) -
                         bisect.bisect_left(times, r.start))
        self.reattach = self._reattach()
        return self

    def _reattach(self):
        """Per (phase, function) with resets: its invalidations outside windows.

        {(phase, bdf): (before, between, last gap, after, ended in window)}:
        the function's device-IOTLB invalidations of the phase that no window
        of it (of any phase) holds: the load (invalidations of a range) before
        its first window in the phase, between its windows, and in the gap
        just before its last window (since the one before it, or since the
        phase began); every invalidation after its last window; and whether
        the phase ended (the next phase marker) before its last window did.
        """
        windows = defaultdict(list)
        for r in self.resets:
            windows[r.bdf].append((r.start, r.end))
        merged = {}
        for bdf, ws in windows.items():
            out = []
            for start, end in sorted(ws):
                if out and start <= out[-1][1]:
                    out[-1][1] = max(out[-1][1], end)
                else:
                    out.append([start, end])
            merged[bdf] = ([w[0] for w in out], [w[1] for w in out])
        phase_windows = defaultdict(list)
        for r in self.resets:
            phase_windows[(r.phase, r.bdf)].append((r.start, r.end))
        res = {}
        for (phase, bdf), ws in phase_windows.items():
            first = min(w[0] for w in ws)
            last_start, last = max(ws, key=lambda w: (w[1], w[0]))
            # The gap before the last window opens where the windows before it end.
            prev = max([e for st, e in ws if e < last_start], default=None)
            starts, ends = merged[bdf]
            before = between = gap = after = 0
            flushes = Counter(self.flushes.get((phase, bdf), {}))
            for t in sorted(self.invs_in_phase.get((phase, bdf), [])):
                flush = flushes[t] > 0
                if flush:
                    flushes[t] -= 1
                i = bisect.bisect_right(starts, t) - 1
                if i >= 0 and t <= ends[i]:
                    continue
                if t > last:
                    after += 1
                    continue
                if flush:
                    continue
                if t < first:
                    before += 1
                else:
                    between += 1
                if t < last_start and (prev is None or t > prev):
                    gap += 1
            end = self.phase_end.get(phase)
            res[(phase, bdf)] = (before, between, gap, after, end is not None and end <= last)
        return res

    def summary(self):
        """Rows per (phase, function)."""
        rows = {}
        keys = (set(self.inv_total) | set(self.ats_disables) |
                {(r.phase, r.bdf) for r in self.resets})
        for phase, bdf in sorted(keys):
            rows[(phase, bdf)] = {'phase': phase, 'bdf': bdf, 'flr': 0, 'pm': 0,
                                  'sbr': 0, 'resets': 0, 'inv_total':
                                  self.inv_total.get((phase, bdf), 0),
                                  'inv_in_windows': 0, 'windows_hit': 0,
                                  'flush_in_windows': 0,
                                  'whole_flushes': sum(
                                      self.flushes.get((phase, bdf), Counter()).values()),
                                  'ats_off_before': 0, 'ats_known': 0,
                                  'ats_disables': self.ats_disables.get((phase, bdf), 0),
                                  # Set for the (phase, function) pairs with resets.
                                  'load_before_first': None, 'load_between': None,
                                  'load_before_last': None, 'inv_after_last': None,
                                  'ended_in_window': None,
                                  # The functions a bus reset of this one also reset:
                                  # with an ATS capability, and without one.
                                  'sbr_peers': [], 'sbr_peers_no_ats': []}
            if (phase, bdf) in self.reattach:
                before, between, gap, after, ended = self.reattach[(phase, bdf)]
                rows[(phase, bdf)].update(load_before_first=before, load_between=between,
                                          load_before_last=gap, inv_after_last=after,
                                          ended_in_window=ended)
        for r in self.resets:
            row = rows[(r.phase, r.bdf)]
            row[r.kind] += 1
            row['resets'] += 1
            row['inv_in_windows'] += r.invalidations
            row['flush_in_windows'] += r.flushes
            row['windows_hit'] += 1 if r.invalidations else 0
            for p in r.peers:
                d = self.devs.get(p)
                key = 'sbr_peers' if d and d.ats else 'sbr_peers_no_ats'
                if p not in row[key]:
                    row[key].append(p)
            if r.ats_enabled is not None:
                row['ats_known'] += 1
                row['ats_off_before'] += 0 if r.ats_enabled else 1
        for row in rows.values():
            row['sbr_peers'].sort()
            row['sbr_peers_no_ats'].sort()
        return [rows[k] for k in sorted(rows)]


def whole_flush(typ, hi):
    """A VT-d Device-TLB Invalidate of the whole device-IOTLB (every address).

    What Linux sends when it blocks a function (prepare), as opposed to the
    invalidations of a range that a DMA unmap sends: S set and address bits
    62:12 all ones (the range is the lowest clear address bit at or above
    bit 12). S is bit 0 of the high word in a "device" descriptor, bit 11 in
    a "device-piotlb" one.
    """
    size = 0x800 if typ == 'device-piotlb' else 0x1
    return bool(hi & size) and hi & WHOLE_ADDR == WHOLE_ADDR


def reattach(r):
    """Did a clean phase's function work again after its last reset?

    Returns (failure, note): why the function was not re-attached (None when
    it was, or when the phase does not allow a judgement), and a note (or
    None) when the phase does not allow one; see the module documentation.
    """
    after, between, gap = r['inv_after_last'], r['load_between'], r['load_before_last']
    if after:
        return None, None
    if r['ended_in_window']:
        return None, 're-attachment not judged: the phase ended inside the last reset window'
    if between and not gap:
        return None, ('re-attachment not judged: the load stopped before the last reset '
                      '(%d invalidations between resets, none in the gap before the last)'
                      % between)
    return ('not re-attached: no device-IOTLB invalidation for %s after its last reset '
            '(load: %d before its first, %d between, %d just before the last)'
            % (r['bdf'], r['load_before_first'], between, gap)), None


def peers(r, by_key):
    """The other functions that the bus resets of a clean phase's function reset.

    Every function below the bridge is reset, not only the one the reset was
    asked for: each ATS function among them must get no device-IOTLB
    invalidation in its windows and must be seen working again after its last
    one, as the function itself (reattach()). Returns (hit, failures, blind,
    note): the peers with invalidations in windows, the re-attachment
    failures, the peers that got no invalidation at all in the phase (no load
    reached them: not judged), and a note on those without ATS (nothing to
    judge).
    """
    hit, failures, blind = [], [], []
    for p in r.get('sbr_peers') or []:
        pr = by_key.get((r['phase'], p))
        if not pr or not pr['inv_total']:
            blind.append(p)
            continue
        if pr['inv_in_windows']:
            hit.append('%s %d' % (p, pr['inv_in_windows']))
        failure, _ = reattach(pr)
        if failure:
            failures.append(failure)
    no_ats = r.get('sbr_peers_no_ats') or []
    note = ('also reset, without ATS (nothing to judge): %s' % ', '.join(no_ats)
            if no_ats else None)
    return hit, failures, blind, note


def check(rows, expects, require_ats_off=False, baseline=False, ats_observable=True,
          notes=None):
    """Verdicts for the guest's expectations, one per expectation, in order.

    Returns a list of (status, description, gap) with status one of 'ok',
    'fail', 'xfail' (a known gap of the baseline kernel, shown: the phase was
    seen and the defect counted), 'skip' (not observable in this
    configuration) and 'blind' (the oracle did not see the phase: no reset in
    a clean or negative-control phase, nothing of the function in a no-block
    one). Blind is never a pass, nor a known gap of the baseline.

    A clean phase also needs the function re-attached after its last reset
    (see reattach()); on the baseline, an expectation tagged with a gap is
    XFAIL only when the windows show it, not for a missing re-attachment.
    notes: a list that receives what could not be judged.
    """
    by_key = {(r['phase'], r['bdf']): r for r in rows}
    out = []
    for e in expects:
        r = by_key.get((e['phase'], e['bdf']))
        if e['expect'] != 'guest':
            what = 'oracle: phase %d %s on %s' % (e['phase'], e['name'], e['bdf'])
        if e['expect'] == 'guest':
            # State the guest observed itself (e.g. the IOMMU core's view of a function), which
            # the trace cannot show; the oracle only applies the baseline rules to it.
            if e.get('na'):
                # Nothing to observe on this kernel (what the test checks does not exist in
                # 7.3): n/a in the differential table, never shown.
                out.append(('skip', 'guest: %s on %s: no counterpart in 7.3: %s' % (
                    e['name'], e['bdf'], e['detail']), e['gap']))
                continue
            ok = e['ok']
            why = 'guest: %s on %s: %s' % (e['name'], e['bdf'], e['detail'] or
                                           ('as expected' if ok else 'not as expected'))
        elif e['expect'] == 'no-block':
            if not ats_observable:
                out.append(('skip', what + ': blocking is only visible as an ATS toggle '
                            '(VT-d legacy mode)', e['gap']))
                continue
            if not r:
                # Under the selftests' load the function's device-IOTLB is invalidated
                # all along: a phase without any of it is one the oracle did not see.
                out.append(('blind', what + ': no device-IOTLB invalidation, reset or ATS '
                            'disable of the function in the phase (oracle blind)', e['gap']))
                continue
            ok = r['resets'] == 0 and r['ats_disables'] == 0
            why = '%s: %d resets, %d ATS disables, expected none' % (
                what, r['resets'], r['ats_disables'])
        elif e['expect'] == 'blocks':
            # Blocking (prepare) flushes the function's whole device-IOTLB in
            # both VT-d modes and, in legacy mode, disables its ATS: no reset
            # is needed to see it. The function named by ref= is blocked in
            # the same phase for sure: without its blocking in the trace the
            # phase was not seen.
            ref = by_key.get((e['phase'], e.get('ref')))
            if e.get('ref') and not (ref and (ref['whole_flushes'] or ref['ats_disables'])):
                out.append(('blind', what + ': no blocking of %s seen in the phase (oracle '
                            'blind)' % e['ref'], e['gap']))
                continue
            n = (r['whole_flushes'] + r['ats_disables']) if r else 0
            ok = n > 0
            why = ('%s: blocked in the trace %d times (whole device-IOTLB flushes and ATS '
                   'disables), expected >= 1' % (what, n))
        elif e['expect'] == 'attached':
            # The function is attached to the domain its group mate's load unmaps from: the
            # IOMMU invalidates its device-IOTLB (no reset needed in the phase).
            n = r['inv_total'] - r['inv_in_windows'] if r else 0
            ok = n > 0
            why = '%s: %d device-IOTLB invalidations outside windows, expected >= 1' % (what, n)
        elif not r or not r['resets']:
            out.append(('blind', what + ': no reset seen in the trace (oracle blind)',
                        e['gap']))
            continue
        elif e['expect'] == 'clean':
            hit, peer_failures, blind, peer_note = peers(r, by_key)
            if blind:
                out.append(('blind', what + ': %s, reset with it by its bus resets, got no '
                            'device-IOTLB invalidation in the phase (no load reached it: '
                            'oracle blind)' % ', '.join(blind), e['gap']))
                continue
            ok = r['inv_in_windows'] == 0 and not hit
            failure, note = reattach(r)
            if peer_failures:
                failure = '; '.join(([failure] if failure else []) + peer_failures)
            why = ('%s: %d resets, %d device-IOTLB invalidations in windows (%d outside, %d '
                   'after the last)' % (what, r['resets'], r['inv_in_windows'],
                                        r['inv_total'] - r['inv_in_windows'],
                                        r['inv_after_last']))
            if r.get('sbr_peers'):
                why += ('; reset with it: %s, in their windows: %s' % (
                    ', '.join(r['sbr_peers']), ', '.join(hit) if hit else 'none'))
            if peer_note and notes is not None:
                notes.append('%s: %s' % (what, peer_note))
            if require_ats_off:
                ok = ok and r['ats_off_before'] == r['resets']
                why += ', ATS off before %d/%d' % (r['ats_off_before'], r['resets'])
            why += ', expected 0'
            if note is not None and notes is not None:
                notes.append('%s: %s' % (what, note))
            if failure:
                why += '; ' + failure
                if baseline and e['gap'] and ok:
                    # The gap's own observable is in the windows: a baseline that
                    # only fails to re-attach does not show it.
                    out.append(('fail', why + ' [gap %s not reproduced on the baseline]'
                                % e['gap'], e['gap']))
                    continue
                ok = False
        elif e['expect'] in ('no-attach', 'attach-reaches'):
            # A domain change (attach) flushes the function's whole device-IOTLB
            # in both VT-d modes; the load only invalidates ranges.
            neg = e['expect'] == 'attach-reaches'
            ok = bool(r['flush_in_windows']) == neg
            why = ('%s%s: %d resets, %d flushes of the whole device-IOTLB (a domain change) '
                   'in windows, expected %s' % (what, ' (negative control)' if neg else '',
                                                r['resets'], r['flush_in_windows'],
                                                '>= 1' if neg else '0'))
        else:
            ok = r['inv_in_windows'] > 0
            why = ('%s (negative control): %d resets, %d device-IOTLB invalidations in '
                   'windows, expected >= 1' % (what, r['resets'], r['inv_in_windows']))
        if baseline and e['gap']:
            if ok:
                out.append(('fail', why + ' [gap %s not reproduced on the baseline]' % e['gap'],
                            e['gap']))
            else:
                out.append(('xfail', why + ' [known gap of the baseline: %s]' % e['gap'],
                            e['gap']))
        else:
            out.append(('ok' if ok else 'fail', why, e['gap']))
    return out


def format_table(rows):
    hdr = ('phase', 'function', 'resets', 'flr/pm/sbr', 'dev-IOTLB inv',
           'in windows', 'windows hit', 'ATS off before', 'after last')
    lines = [hdr]
    for r in rows:
        lines.append((str(r['phase']), r['bdf'], str(r['resets']),
                      '%d/%d/%d' % (r['flr'], r['pm'], r['sbr']), str(r['inv_total']),
                      str(r['inv_in_windows']), str(r['windows_hit']),
                      '%d/%d' % (r['ats_off_before'], r['ats_known']) if r['resets'] else '-',
                      '-' if r.get('inv_after_last') is None else str(r['inv_after_last'])))
    widths = [max(len(l[i]) for l in lines) for i in range(len(hdr))]
    return '\n'.join('  '.join(c.ljust(w) for c, w in zip(l, widths)).rstrip()
                     for l in lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('trace', help="QEMU trace log (-D file)")
    ap.add_argument('--guest-log', '--console', dest='console',
                    help="the guest's test channel, with # oracle-dev/expect lines")
    ap.add_argument('--dev', action='append', default=[],
                    help='BDF,exp=OFF,pm=OFF,ats=OFF,bridge=BDF[,af=OFF] (adds to --guest-log)')
    ap.add_argument('--window-ms', type=int, default=100,
                    help='no-answer window after FLR / SBR (default 100, the PCIe minimum)')
    ap.add_argument('--clock-tolerance', type=float, default=5.0,
                    help='percent by which the guest clock may run ahead of the host '
                    'clock that stamps the trace; shortens the windows (default 5)')
    ap.add_argument('--require-ats-off', action='store_true',
                    help='clean phases must also disable ATS before each reset (VT-d legacy mode)')
    ap.add_argument('--scalable', action='store_true',
                    help='VT-d scalable mode: ATS stays enabled, blocking is not visible')
    ap.add_argument('--baseline', action='store_true',
                    help='the kernel is the baseline: expectations tagged gap= must fail '
                    '(XFAIL); passing means the gap was not reproduced (FAIL)')
    ap.add_argument('--amd', action='store_true',
                    help='AMD-Vi trace: attribute every amdvi_iotlb_inval to the one ATS function')
    ap.add_argument('--label', default='', help='prefix for the machine-readable line')
    ap.add_argument('--ktap-start', type=int, default=0,
                    help='print expectation verdicts as KTAP results numbered from N+1')
    args = ap.parse_args(argv)

    devs, expects = {}, []
    if args.console:
        with open(args.console, errors='replace') as f:
            devs, expects = parse_console(f)
    for spec in args.dev:
        parts = spec.split(',')
        kv = dict(p.split('=', 1) for p in parts[1:])
        try:
            devs[parts[0]] = DevInfo(parts[0], int(kv.get('exp', '0'), 16),
                                     int(kv.get('pm', '0'), 16), int(kv.get('ats', '0'), 16),
                                     kv.get('bridge'), int(kv.get('af', '0'), 16))
        except ValueError:
            ap.error('bad --dev %r: offsets are hex numbers' % spec)
    if not devs:
        ap.error('no device description: pass --guest-log LOG or --dev')

    amd_function = None
    if args.amd:
        ats = sorted(d.bdf for d in devs.values() if d.ats)
        if len(ats) != 1:
            ap.error('--amd: AMD-Vi invalidations carry no device ID, so the VM needs exactly '
                     'one ATS function; described: %s' % (', '.join(ats) or 'none'))
        amd_function = ats[0]
    try:
        with open(args.trace, errors='replace') as f:
            if not 0 <= args.clock_tolerance < 50:
                ap.error('--clock-tolerance must be a percentage below 50')
            oracle = Oracle(devs, args.window_ms * 1000, args.clock_tolerance / 100)
            oracle.feed(f, amd_function)
    except OSError as e:
        print('oracle: cannot read trace: %s' % e, file=sys.stderr)
        return 2
    except TraceError as e:
        # A verdict line (check.sh counts it and keeps the trace) and no
        # ORACLE-JSON: the tables show the cell without a result.
        why = 'oracle: refused the trace: %s' % e
        if args.ktap_start:
            print('not ok %d %s' % (args.ktap_start + 1, why))
        else:
            print('FAIL: ' + why)
        return 2
    rows = oracle.finish().summary()
    print(format_table(rows))
    notes = []
    verdicts = check(rows, expects, args.require_ats_off, args.baseline, not args.scalable, notes)
    for note in notes:
        print('note: ' + note)
    fails = sum(1 for st, _, _ in verdicts if st in ('fail', 'blind'))
    print('ORACLE-JSON %s' % json.dumps({
        'label': args.label, 'rows': rows,
        'verdicts': [{'ok': st in ('ok', 'xfail', 'skip'), 'status': st, 'what': w, 'gap': g,
                      'expect': e['expect'], 'phase': e['phase'], 'bdf': e['bdf']}
                     for (st, w, g), e in zip(verdicts, expects)]}, sort_keys=True))
    # A blind verdict prints as FAIL (its description says "oracle blind"):
    # check.sh counts PASS, FAIL, XFAIL and SKIP lines.
    names = {'ok': 'PASS', 'fail': 'FAIL', 'xfail': 'XFAIL', 'skip': 'SKIP', 'blind': 'FAIL'}
    n = args.ktap_start
    for st, what, _ in verdicts:
        n += 1
        if args.ktap_start:
            directive = {'xfail': ' # XFAIL', 'skip': ' # SKIP'}.get(st, '')
            print('%s %d %s%s' % ('not ok' if st in ('fail', 'blind') else 'ok', n, what,
                                  directive))
        else:
            print('%s: %s' % (names[st], what))
    return 1 if fails else 0


if __name__ == '__main__':
    sys.exit(main())
