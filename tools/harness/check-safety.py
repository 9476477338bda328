#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Kernel Rust conventions the compiler does not check, on the given files:

- every `unsafe` block is preceded by a `// SAFETY:` comment;
- every `unsafe fn` has a `# Safety` section in its documentation;
- every `unsafe impl` is preceded by a `// SAFETY:` comment;
- every public item has a doc comment.

Prints one line per violation (file:line: what) and exits 1 if any.
"""

import re
import sys


def comment_block_above(lines, i):
    """The comment/attribute lines directly above line i (nearest first)."""
    out = []
    j = i - 1
    while j >= 0:
        s = lines[j].strip()
        if s.startswith('//') or s.startswith('#['):
            out.append(s)
            j -= 1
        else:
            break
    return out


def in_trait_impl(lines, i):
    """Whether line i is inside `impl Trait for Type` (safety documented on the trait)."""
    for j in range(i - 1, -1, -1):
        if re.match(r'(unsafe )?impl\b', lines[j]):
            return ' for ' in lines[j]
        if re.match(r'\S', lines[j]) and not lines[j].startswith(('//', '#', '}')):
            return False
    return False


def check(path):
    errs = []
    with open(path) as f:
        lines = f.read().split('\n')
    for i, line in enumerate(lines):
        code = line.split('//')[0]
        stripped = line.strip()
        if stripped.startswith('//'):
            continue
        above = comment_block_above(lines, i)
        # `unsafe {` blocks: the SAFETY comment may sit above the statement that
        # contains the block, which may start a few lines earlier.
        if re.search(r'\bunsafe\s*\{', code):
            ok = any('SAFETY:' in c for c in above)
            k = i
            while not ok and k > 0 and k > i - 4:
                prev = lines[k - 1].strip()
                if prev.endswith(('(', ',', '=', '{', '|')) or prev.startswith(('let ', '.')):
                    k -= 1
                    ok = any('SAFETY:' in c for c in comment_block_above(lines, k))
                else:
                    break
            if not ok and '// SAFETY:' not in line:
                errs.append('%s:%d: unsafe block without a // SAFETY: comment' % (path, i + 1))
        if re.search(r'\bunsafe\s+impl\b', code) and not any('SAFETY:' in c for c in above):
            errs.append('%s:%d: unsafe impl without a // SAFETY: comment' % (path, i + 1))
        if re.search(r'\bunsafe\s+(extern\s+"C"\s+)?fn\b', code):
            docs = [c for c in above if c.startswith('///')]
            nested = line.startswith('        ') or in_trait_impl(lines, i)
            if not nested and not any('# Safety' in c for c in docs):
                errs.append('%s:%d: unsafe fn without a # Safety section' % (path, i + 1))
        if re.match(r'\s*pub (fn|struct|enum|trait|const|type|mod|unsafe fn|unsafe extern)\b', line):
            if not any(c.startswith('///') for c in above) and not stripped.startswith('pub mod tests'):
                errs.append('%s:%d: public item without documentation' % (path, i + 1))
    return errs


def main(paths):
    errs = []
    for p in paths:
        errs += check(p)
    for e in errs:
        print(e)
    return 1 if errs else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
