#!/usr/bin/env python3
"""Fails when the modules of a crate depend on each other in a ring.

Every `crate::…`, `super::…` and `self::…` path in a crate's `src/` (in `use` trees and inline,
comments and string literals stripped) is resolved to the deepest module that exists as a file
(`a.rs`, `a/mod.rs`). Modules are then collapsed to their first DEPTH segments (default 1: the
top-level modules, `routes`, `console`, ...), and an edge A -> B means "something in A names
something in B". A module and its own ancestors are one unit at that point (a child using its
parent's items is how `mod` nesting works), so those edges are left out. Any strongly connected
component with more than one node is a cycle: it is printed with one path per edge, and the
script exits 1.

usage: scripts/check-module-cycles.py [--depth N] [--tests] CRATE_DIR...
       (CRATE_DIR is a crate folder such as `api`; with no argument, every crate of the workspace)

`#[cfg(test)]` modules are left out unless --tests is given: test fixtures may reach anywhere.
"""

import argparse
import pathlib
import re
import sys

WORKSPACE_CRATES = ["api", "core", "worker", "sim", "cli", "hubspot", "tests"]


def strip_comments_and_strings(src):
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if src.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif src.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and re.match(r'r#*"', src[i:i + 10]) and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            hashes = re.match(r'r(#*)"', src[i:]).group(1)
            end = src.find('"' + hashes, i + 2 + len(hashes))
            i = n if end < 0 else end + 1 + len(hashes)
            out.append('""')
        elif c == '"':
            i += 1
            while i < n and src[i] != '"':
                i += 2 if src[i] == "\\" else 1
            i += 1
            out.append('""')
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", src[i:i + 4]) or re.match(r"'\\u\{[0-9a-fA-F]+\}'", src[i:i + 12]):
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", src[i:])
            i += len(m.group(0))
            out.append("' '")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def strip_test_modules(src):
    """Drops `#[cfg(test)] mod x { ... }` blocks (after comments and strings are gone)."""
    while True:
        m = re.search(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", src)
        if not m:
            return src
        depth, i = 1, m.end()
        while i < len(src) and depth:
            depth += {"{": 1, "}": -1}.get(src[i], 0)
            i += 1
        src = src[:m.start()] + src[i:]


def expand_use_tree(tree):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e] (globs and renames kept as the prefix)."""
    tree = re.sub(r"\s+as\s+\w+", "", tree)
    tree = re.sub(r"\s+", "", tree)
    out = []

    def walk(prefix, t):
        parts, depth, cur = [], 0, ""
        for ch in t:
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
                continue
            depth += {"{": 1, "}": -1}.get(ch, 0)
            cur += ch
        if cur:
            parts.append(cur)
        for part in parts:
            if "{" in part:
                head, body = part.split("{", 1)
                walk(prefix + head, body[: body.rfind("}")])
            else:
                out.append(prefix + part)

    walk("", tree)
    return out


def module_path_of(rel):
    """src/lib.rs -> (), src/a/mod.rs -> (a,), src/a/b.rs -> (a, b), src/bin/x.rs -> None."""
    parts = list(rel.parts)
    if parts[-1] in ("lib.rs", "main.rs") and len(parts) == 1:
        return ()
    if parts[0] == "bin":
        return None
    if parts[-1] == "mod.rs":
        return tuple(parts[:-1])
    parts[-1] = parts[-1][:-3]
    return tuple(parts)


def resolve(segments, here, modules):
    """Resolves a path's leading crate/self/super to an absolute module path."""
    base = list(here)
    if segments[0] == "crate":
        base, rest = [], segments[1:]
    elif segments[0] in ("self", "super"):
        rest = list(segments)
        # `self` in `a/b.rs` (or `a/b/mod.rs`) is `a::b`; `super` is `a`.
        while rest and rest[0] in ("self", "super"):
            if rest[0] == "super":
                base = base[:-1]
            rest = rest[1:]
    else:
        return None
    full = base + [s for s in rest if s not in ("*",)]
    # the deepest existing module on that path
    for k in range(len(full), -1, -1):
        if tuple(full[:k]) in modules:
            return tuple(full[:k])
    return ()


def edges_of_crate(crate_dir, with_tests):
    src_dir = crate_dir / "src"
    files = {}
    for f in sorted(src_dir.rglob("*.rs")):
        mp = module_path_of(f.relative_to(src_dir))
        if mp is not None:
            files[f] = mp
    modules = set(files.values())
    edges = {}  # (from, to) -> example "file: path"
    for f, here in files.items():
        text = strip_comments_and_strings(f.read_text())
        if not with_tests:
            text = strip_test_modules(text)
        paths = []
        for m in re.finditer(r"\buse\s+((?:crate|super|self)\b[^;]*);", text):
            paths += expand_use_tree(m.group(1))
        text_wo_use = re.sub(r"\buse\s+[^;]*;", "", text)
        paths += re.findall(r"\b(?:crate|super|self)(?:::(?:[A-Za-z_]\w*|\*))+", text_wo_use)
        for p in paths:
            segs = [s for s in p.split("::") if s]
            target = resolve(segs, here, modules)
            if target is None:
                continue
            edges.setdefault((here, target), f"{f.relative_to(crate_dir)}: {p}")
    return modules, edges


def collapse(mp, depth):
    return tuple(mp[:depth])


def is_ancestor(a, b):
    return len(a) <= len(b) and b[: len(a)] == a


def sccs(nodes, adj):
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in adj.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            strong(v)
    return out


def name(mp):
    return "crate" if not mp else "::".join(mp)


def check(crate_dir, depth, with_tests):
    modules, raw = edges_of_crate(crate_dir, with_tests)
    adj, why = {}, {}
    for (a, b), example in raw.items():
        a, b = collapse(a, depth), collapse(b, depth)
        if a == b or is_ancestor(a, b) or is_ancestor(b, a):
            continue
        adj.setdefault(a, set()).add(b)
        why.setdefault((a, b), example)
    nodes = {collapse(m, depth) for m in modules}
    cycles = [sorted(c) for c in sccs(nodes, adj) if len(c) > 1]
    label = f"{crate_dir.name} (depth {depth}{', with tests' if with_tests else ''})"
    if not cycles:
        print(f"{label}: no module cycle among {len(nodes)} modules")
        return True
    print(f"{label}: {len(cycles)} cycle(s)")
    for comp in cycles:
        members = set(comp)
        print("  cycle: " + ", ".join(name(m) for m in comp))
        for (a, b), example in sorted(why.items()):
            if a in members and b in members:
                print(f"    {name(a)} -> {name(b)}   ({example})")
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--depth", type=int, default=1)
    ap.add_argument("--tests", action="store_true")
    ap.add_argument("crates", nargs="*")
    args = ap.parse_args()
    root = pathlib.Path(__file__).resolve().parent.parent
    crates = args.crates or WORKSPACE_CRATES
    ok = True
    for c in crates:
        d = pathlib.Path(c)
        if not d.is_absolute():
            d = root / d
        ok &= check(d, args.depth, args.tests)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
