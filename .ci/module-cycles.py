#!/usr/bin/env python3
"""Import circles between the modules of a crate's src/ (issue 9: "no import circles").

A module is one file (`a/b.rs` or `a/b/mod.rs` is `a::b`). A file that names
`crate::x::y::Item`, `super::Item` or `self::z::Item` depends on the longest module prefix of
that path. Edges between a module and its own ancestors or descendants are left out (a parent
declares its children; a child may use its parent's items). Prints every strongly connected
component of two or more modules and exits 1 if there is one.
"""
import os
import re
import sys

def modules(src):
    mods = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, src)[:-3].split(os.sep)
            if rel[-1] == "mod":
                rel = rel[:-1]
            if rel in (["lib"], ["main"]):
                rel = []
            if rel and rel[0] == "bin":
                continue
            mods[tuple(rel)] = path
    return mods

PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
USE_GROUP = re.compile(r"\buse\s+(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*)\};", re.S)

def strip(text):
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', text)

def resolve(mod, head, tail, mods):
    if head == "crate":
        base = []
    elif head == "self":
        base = list(mod)
    else:
        base = list(mod[:-1])
    parts = base + [p for p in tail.split("::") if p]
    while parts and parts[0] == "super":
        parts = parts[1:]
    best = ()
    for i in range(len(parts) + 1):
        if tuple(parts[:i]) in mods:
            best = tuple(parts[:i])
    return best

def expand(text):
    out = []
    for m in USE_GROUP.finditer(text):
        head, prefix, group = m.group(1), m.group(2), m.group(3)
        for item in re.split(r",(?![^{]*\})", group):
            item = item.strip()
            if not item:
                continue
            name = re.match(r"[A-Za-z_][A-Za-z0-9_:]*", item)
            if name:
                out.append((head, prefix + "::" + name.group(0).rstrip(":")))
    return out

def graph(src):
    mods = modules(src)
    edges = {m: set() for m in mods}
    for mod, path in mods.items():
        with open(path, encoding="utf-8") as fh:
            text = strip(fh.read())
        found = [(m.group(1), m.group(2)) for m in PATH.finditer(text)] + expand(text)
        for head, tail in found:
            target = resolve(mod, head, tail, mods)
            if target == mod:
                continue
            n = min(len(target), len(mod))
            if target[:n] == mod[:n]:
                continue  # ancestor or descendant
            edges[mod].add(target)
    return edges

def sccs(edges):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)
    def visit(v):
        index[v] = low[v] = counter[0]; counter[0] += 1
        stack.append(v); on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)
    for v in edges:
        if v not in index:
            visit(v)
    return out

def name(m):
    return "::".join(m) or "crate"

if __name__ == "__main__":
    bad = 0
    for src in sys.argv[1:]:
        edges = graph(src)
        for comp in sccs(edges):
            bad += 1
            comp_set = set(comp)
            print(f"{src}: circle of {len(comp)}: " + ", ".join(sorted(name(m) for m in comp)))
            for m in sorted(comp):
                for t in sorted(edges[m] & comp_set):
                    print(f"    {name(m)} -> {name(t)}")
    print(f"{bad} import circle(s)")
    sys.exit(1 if bad else 0)
