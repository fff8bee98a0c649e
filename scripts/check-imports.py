#!/usr/bin/env python3
"""Checks the module structure of the Rust crates: no two files import each other, directly or through others, and
the domain layer (app/src/domain) imports nothing of HTTP (axum, http, tower, cookies).

A file imports another when it names an item of it by path (`use crate::a::b`, `super::b::c`, `crate::a::f(…)` in
code, `pub use` re-exports included); `mod` declarations are not imports. A path resolves to the deepest module
file it names. Prints every cycle found and exits 1, or prints one summary line and exits 0.

Usage: check-imports.py ROOT   (the repository; crates: app and server, with the server's binary and tests)
"""

import re
import sys
from pathlib import Path

CRATES = {"app": "app/src/lib.rs", "server": "server/src/lib.rs"}
EXTRA_ROOTS = {"server": ["server/src/main.rs", "server/tests/api/main.rs"]}
HTTP_CRATES = ("axum", "http", "tower", "tower_http", "cookie", "axum_extra", "leptos_axum", "hyper")
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)  # raw strings (SQL), roughly
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def module_files(root_file):
    """Maps module paths (tuples) to files for the crate rooted at `root_file` (non-mod.rs and mod.rs layouts)."""
    modules = {(): root_file}
    todo = [((), root_file)]
    while todo:
        path, file = todo.pop()
        text = strip_comments(file.read_text())
        if file.name in ("lib.rs", "main.rs", "mod.rs") or file == root_file:
            base = file.parent
        else:
            base = file.parent / file.stem
        for name in re.findall(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;", text, re.M):
            for candidate in (base / f"{name}.rs", base / name / "mod.rs"):
                if candidate.exists():
                    modules[path + (name,)] = candidate
                    todo.append((path + (name,), candidate))
                    break
    return modules


def expand_use_tree(tree):
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e']."""
    tree = tree.strip()
    depth, start = 0, None
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                prefix, inner = tree[:start], tree[start + 1 : i]
                parts, level, last = [], 0, 0
                for j, c in enumerate(inner):
                    if c == "{":
                        level += 1
                    elif c == "}":
                        level -= 1
                    elif c == "," and level == 0:
                        parts.append(inner[last:j])
                        last = j + 1
                parts.append(inner[last:])
                out = []
                for part in parts:
                    if part.strip():
                        out += [prefix + p for p in expand_use_tree(part)]
                return out
    return [tree.split(" as ")[0].strip()]


def references(text):
    """Every path the file names, as strings."""
    found = []
    for tree in re.findall(r"\buse\s+([^;]+);", text):
        found += expand_use_tree(tree)
    found += re.findall(r"\b((?:crate|super|self)(?:::" + IDENT + r")+)", text)
    return found


def reexports(text):
    """A module's `pub use` re-exports: {name: path} and the glob paths."""
    named, globs = {}, []
    for tree in re.findall(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", text):
        for path in expand_use_tree(tree):
            full = tree
            alias = re.search(re.escape(path) + r"\s+as\s+(" + IDENT + ")", full)
            if path.endswith("::*"):
                globs.append(path[:-3])
            else:
                named[alias.group(1) if alias else path.split("::")[-1]] = path
    return named, globs


def defines(text, name):
    """Whether a file defines `name` (an item, or a server function whose generated struct is `name`)."""
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    pattern = r"\b(?:fn|struct|enum|const|static|type|trait|mod|union)\s+" + re.escape(name) + r"\b"
    return bool(re.search(pattern, text)) or bool(re.search(r"#\[server[^\]]*\]\s*pub\s+async\s+fn\s+" + snake + r"\b", text))


def resolve(path, current, modules, exports=None, depth=0):
    """The module (tuple) a path points into (following re-exports to the module that defines the item), or None
    when it leaves the crate."""
    parts = [p for p in path.replace(" ", "").split("::") if p]
    if not parts:
        return None
    if parts[0] == "crate":
        base, rest = (), parts[1:]
    elif parts[0] in ("super", "self"):
        base = current
        while parts and parts[0] in ("super", "self"):
            if parts[0] == "super":
                base = base[:-1]
            parts = parts[1:]
        rest = parts
    else:
        # A path relative to the current module naming a child module (`use child::Item` in a parent).
        if current + (parts[0],) in modules:
            base, rest = current, parts
        else:
            return None
    target = base
    consumed = 0
    for part in rest:
        if target + (part,) in modules:
            target = target + (part,)
            consumed += 1
        else:
            break
    if exports is None or depth > 8 or consumed == len(rest):
        return target
    name = rest[consumed]
    named, globs = exports[target]
    if name in named:
        found = resolve(named[name], target, modules, exports, depth + 1)
        return target if found is None else found
    for glob in globs:
        inner = resolve(glob, target, modules, exports, depth + 1)
        if inner is not None and inner in modules and defines(strip_comments(modules[inner].read_text()), name):
            return inner
    return target


def find_cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
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
            if len(comp) > 1:
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    failures, files = [], 0
    for crate, lib in CRATES.items():
        roots = [root / lib] + [root / r for r in EXTRA_ROOTS.get(crate, [])]
        for crate_root in roots:
            if not crate_root.exists():
                continue
            modules = module_files(crate_root)
            exports = {m: reexports(strip_comments(f.read_text())) for m, f in modules.items()}
            graph = {}
            for module, file in modules.items():
                files += 1
                text = strip_comments(file.read_text())
                edges = set()
                for ref in references(text):
                    target = resolve(ref, module, modules, exports)
                    if target is not None and modules[target] != file:
                        # A parent's re-export of its own children is the parent's edge; a child naming its
                        # ancestor only to reach a sibling resolves to that sibling above.
                        edges.add(modules[target])
                graph[file] = edges
                rel = file.relative_to(root)
                if str(rel).startswith("app/src/domain"):
                    for crate_name in HTTP_CRATES:
                        if re.search(r"(?<![A-Za-z0-9_:])" + crate_name + r"::", text):
                            failures.append(f"{rel}: the domain imports `{crate_name}`")
            for cycle in find_cycles(graph):
                names = sorted(str(f.relative_to(root)) for f in cycle)
                failures.append("import cycle: " + " <-> ".join(names))
    if failures:
        for line in sorted(set(failures)):
            print(line)
        sys.exit(1)
    print(f"imports: {files} files checked, no cycles, the domain knows no HTTP")


if __name__ == "__main__":
    main()
