#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Check that the overlay's Documentation/ files are valid reStructuredText.

Parses each .rst file with docutils, the parser under Sphinx, and fails on any
warning or error. The kernel's Sphinx-only roles and directives (toctree,
kernel-doc, :doc:, :c:func:, ...) are accepted without being checked, since
`make htmldocs` needs the whole tree and Sphinx.

Usage: check-rst.py DIR|FILE...
"""

import io
import os
import sys

try:
    import docutils.core
    import docutils.nodes
    from docutils.parsers.rst import Directive, directives, roles
except ImportError:
    print('check-rst: python3-docutils is missing (apt-get install python3-docutils)')
    sys.exit(2)

SPHINX_DIRECTIVES = ['toctree', 'kernel-doc', 'code-block', 'c:function', 'c:type',
                     'only', 'note', 'warning', 'tabularcolumns']
SPHINX_ROLES = ['doc', 'ref', 'c:func', 'c:type', 'c:macro', 'manpage']


class Accepted(Directive):
    """A Sphinx directive, accepted as is."""
    has_content = True
    optional_arguments = 10
    final_argument_whitespace = True
    option_spec = None

    def run(self):
        return []


def rst_files(args):
    for a in args:
        if os.path.isdir(a):
            for root, _, files in os.walk(a):
                for f in sorted(files):
                    if f.endswith('.rst'):
                        yield os.path.join(root, f)
        else:
            yield a


def main(argv):
    if not argv:
        print(__doc__.strip().splitlines()[-1])
        return 2
    for d in SPHINX_DIRECTIVES:
        if d not in ('note', 'warning'):
            directives.register_directive(d, Accepted)
    for r in SPHINX_ROLES:
        roles.register_generic_role(r, docutils.nodes.literal)
    bad = 0
    n = 0
    for path in rst_files(argv):
        n += 1
        with open(path) as f:
            src = f.read()
        msgs = io.StringIO()
        docutils.core.publish_doctree(src, source_path=path, settings_overrides={
            'report_level': 2, 'halt_level': 5, 'warning_stream': msgs})
        if msgs.getvalue():
            bad += 1
            print(msgs.getvalue().rstrip())
    print('check-rst: %d file(s), %d with problems' % (n, bad))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
