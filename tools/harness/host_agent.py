#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Carries out what a guest test asks of the emulator, beside run-vm.sh.

The guest cannot reach QEMU's monitor; a test writes a request to the
third serial port ($IOMMU_RESET_HOST_REQUEST in the guest, host-requests.log
here) and waits for its effect. This follows that file while QEMU runs and
answers each request line once:

    host-request aer-fatal bdf=DDDD:BB:DD.F
        an uncorrectable error (Malformed TLP, fatal by default severity)
        signalled by the device, through the monitor's
        pcie_aer_inject_error: the device sends ERR_FATAL to its Root
        Port, as hardware would, and the guest's AER driver recovers it.

Usage: host_agent.py REQUESTS_LOG MONITOR_SOCKET QEMU_PID BDF=QDEV_ID...
(the guest's name of each device that may be asked for, and QEMU's id).
Every request and the monitor's answer go to stdout (run-vm.sh keeps them
in host-agent.log).
"""

import os
import re
import socket
import sys
import time

ANSI_RE = re.compile(r'\x1b\[[0-9;]*[A-Za-z]')
REQUEST_RE = re.compile(r'^host-request aer-fatal bdf=([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])\s*$')


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def monitor(path, command):
    """Sends one HMP command and returns what the monitor printed."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(path)
        out = b''
        s.sendall(command.encode() + b'\n')
        # The banner, the echo and the answer, up to the next prompt.
        deadline = time.time() + 5
        while time.time() < deadline and out.count(b'(qemu)') < 2:
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
    return out.decode(errors='replace')


def main():
    if len(sys.argv) < 5:
        sys.exit('usage: host_agent.py REQUESTS_LOG MONITOR_SOCKET QEMU_PID BDF=QDEV_ID...')
    log, sock, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ids = dict(a.split('=', 1) for a in sys.argv[4:])
    done = 0
    while alive(pid):
        time.sleep(0.2)
        try:
            with open(log, errors='replace') as f:
                lines = f.read().split('\n')[:-1]
        except OSError:
            continue
        for line in lines[done:]:
            m = REQUEST_RE.match(line.rstrip('\r'))
            if not m:
                if line.strip():
                    print('not understood: %r' % line, flush=True)
                continue
            if m.group(1) not in ids:
                print('%s: no such device in this VM' % m.group(1), flush=True)
                continue
            cmd = 'pcie_aer_inject_error %s MALF_TLP' % ids[m.group(1)]
            try:
                answer = monitor(sock, cmd)
            except OSError as e:
                answer = 'monitor: %s' % e
            # The monitor echoes the command with terminal edits: keep its answer.
            answer = ANSI_RE.sub('', answer).rsplit(cmd, 1)[-1]
            print('%s -> %s' % (cmd, ' '.join(answer.split())[:200]), flush=True)
        done = len(lines)


if __name__ == '__main__':
    main()
