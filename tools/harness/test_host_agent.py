#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Unit tests of host_agent.py against a stand-in for QEMU's monitor."""

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import host_agent  # noqa: E402


class FakeMonitor(threading.Thread):
    """An HMP monitor on a unix socket that records each command."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.commands = []
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(4)

    def run(self):
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b'QEMU 10.0 monitor\r\n(qemu) ')
                line = b''
                while not line.endswith(b'\n'):
                    chunk = conn.recv(256)
                    if not chunk:
                        break
                    line += chunk
                self.commands.append(line.decode().strip())
                conn.sendall(line + b'(qemu) ')


class HostAgentTest(unittest.TestCase):
    def test_request_syntax(self):
        m = host_agent.REQUEST_RE.match('host-request aer-fatal bdf=0000:02:00.0')
        self.assertEqual(m.group(1), '0000:02:00.0')
        for bad in ('host-request aer-fatal bdf=02:00.0',
                    'host-request aer-fatal bdf=0000:02:00.0; quit',
                    'host-request quit', '# host-request aer-fatal bdf=0000:02:00.0'):
            self.assertIsNone(host_agent.REQUEST_RE.match(bad), bad)

    def test_answers_each_request_once(self):
        with tempfile.TemporaryDirectory() as d:
            sock, log = os.path.join(d, 'monitor.sock'), os.path.join(d, 'requests.log')
            mon = FakeMonitor(sock)
            mon.start()
            with open(log, 'w') as f:
                f.write('host-request aer-fatal bdf=0000:02:00.0\r\n')
            qemu = subprocess.Popen(['sleep', '3'])
            agent = subprocess.Popen([sys.executable, os.path.join(HERE, 'host_agent.py'),
                                      log, sock, str(qemu.pid), '0000:02:00.0=fn2'],
                                     stdout=subprocess.PIPE, text=True)
            time.sleep(1)
            with open(log, 'a') as f:
                f.write('host-request aer-fatal bdf=0000:09:00.0\n'
                        'garbage\n'
                        'host-request aer-fatal bdf=0000:02:00.0\n')
            qemu.wait()
            out, _ = agent.communicate(timeout=10)
            mon.srv.close()
        self.assertEqual(mon.commands, ['pcie_aer_inject_error fn2 MALF_TLP'] * 2)
        self.assertIn('0000:09:00.0: no such device in this VM', out)
        self.assertIn("not understood: 'garbage'", out)
        self.assertEqual(out.count('pcie_aer_inject_error fn2 MALF_TLP ->'), 2)


if __name__ == '__main__':
    unittest.main()
