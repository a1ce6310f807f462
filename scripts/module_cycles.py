"""Finds import circles between the modules of each crate in the workspace.

Each source file is one module. A module depends on another when its text names a path
into it: `use crate::a::b::Item`, `crate::a::f()`, `super::x`, including the branches of
grouped imports (`use crate::{a::X, b::{Y, Z}}`). A path is credited to the deepest
module file it reaches, and a name the crate root re-exports (`pub use a::b::Item;` in
lib.rs, or `pub use child::Item;` in any module) is credited to the module it comes
from, so a facade hides nothing. The crate
root itself and `mod x;` declarations are not edges: declaring a child is not using it.

Usage: python3 scripts/module_cycles.py [CRATE...] (all crates when none is named).
Prints every circle (a strongly connected set of two or more modules, with one path
around it) and exits 1 if there is any; exits 0 and prints one line per crate otherwise.
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip_comments_and_strings(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    # Raw strings first, then ordinary ones; char literals like '"' are rare enough
    # in this tree that the simple form does not misread them.
    text = re.sub(r'r(#+)".*?"\1', '""', text, flags=re.S)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text, flags=re.S)
    return text


def module_files(src):
    """Maps module path (tuple of names) to file, for a crate's src/ folder."""
    modules = {}
    for file in src.rglob("*.rs"):
        rel = file.relative_to(src).with_suffix("")
        parts = list(rel.parts)
        if parts == ["lib"] or parts == ["main"]:
            continue
        if parts[0] == "bin":
            continue
        if parts[-1] == "mod":
            parts = parts[:-1]
        modules[tuple(parts)] = file
    return modules


def expand_use_tree(text, start):
    """Parses a use tree starting at text[start]; returns (list of paths, end index)."""
    paths = []
    i = start
    prefix = []
    while True:
        m = re.match(r"\s*(" + IDENT + r"|\*)\s*", text[i:])
        if text[i:].lstrip().startswith("{"):
            i = text.index("{", i) + 1
            while True:
                sub, i = expand_use_tree(text, i)
                paths.extend(prefix + p for p in sub)
                m2 = re.match(r"\s*([,}])", text[i:])
                if not m2:
                    return paths, i
                i += m2.end()
                if m2.group(1) == "}":
                    return paths, i
                if re.match(r"\s*}", text[i:]):
                    i = text.index("}", i) + 1
                    return paths, i
        if not m:
            return paths or [prefix], i
        prefix = prefix + [m.group(1)]
        i += m.end()
        m2 = re.match(r"\s*::\s*", text[i:])
        if not m2:
            m3 = re.match(r"\s*as\s+" + IDENT, text[i:])
            if m3:
                i += m3.end()
            return paths + [prefix], i
        i += m2.end()


def referenced_paths(text, here):
    """Absolute module paths (lists of names from the crate root) that `text` names."""
    found = []
    # A child module named by its bare name (`child::f()`, `use child::X`): declaring
    # it is not an edge, but using what it holds is.
    for child in re.findall(r"\bmod\s+(" + IDENT + r")\s*;", text):
        for m in re.finditer(r"(?<![:\w])" + child + r"\s*::\s*\{?", text):
            if m.group(0).endswith("{"):
                paths, _ = expand_use_tree(text, m.end() - 1)
                found.extend(list(here) + [child] + p for p in paths)
            else:
                found.append(list(here) + [child])
    # Grouped imports: expand their trees.
    for m in re.finditer(r"\b(crate|super|self)\s*::\s*\{", text):
        paths, _ = expand_use_tree(text, m.end() - 1)
        for p in paths:
            found.append(absolute(m.group(1), p, here))
    for m in re.finditer(r"\b((?:crate|super|self)(?:\s*::\s*(?:super|" + IDENT + r"))+)", text):
        parts = [p.strip() for p in m.group(1).split("::")]
        found.append(absolute(parts[0], parts[1:], here))
    return [p for p in found if p is not None]


def absolute(head, rest, here):
    if head == "crate":
        base = []
    elif head == "self":
        base = list(here)
    else:
        base = list(here[:-1])
    rest = list(rest)
    while rest and rest[0] == "super":
        base = base[:-1]
        rest = rest[1:]
    return base + rest


def reexports(text, here, modules):
    """Names a module (or the crate root, `here == ()`) re-exports with `pub use`,
    mapped to the absolute path they come from."""
    table = {}
    for m in re.finditer(r"pub(?:\s*\([^)]*\))?\s+use\s+([^;]+);", text):
        paths, _ = expand_use_tree(m.group(1).strip() + ";", 0)
        for p in paths:
            if not p or p[-1] in ("*", "self"):
                continue
            if p[0] in ("crate", "super", "self"):
                path = absolute(p[0], p[1:], here)
            elif tuple(here) + (p[0],) in modules:
                path = list(here) + p
            else:
                continue  # another crate's item
            table[p[-1]] = path
    return table


def resolve(path, modules, exports, depth=0):
    """The module a path lands in: the deepest module file it reaches, followed
    through the re-exports of the module it stops at."""
    best = ()
    for n in range(1, len(path) + 1):
        if tuple(path[:n]) in modules:
            best = tuple(path[:n])
    rest = path[len(best):]
    if rest and depth < 8 and rest[0] in exports.get(best, {}):
        return resolve(exports[best][rest[0]] + rest[1:], modules, exports, depth + 1)
    return best or None


def circles(graph):
    """Tarjan's strongly connected components of two or more nodes."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def path_around(comp, graph):
    """One cycle through the component's first module, for the message."""
    members = set(comp)
    start = comp[0]
    prev = {start: None}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph.get(v, ())):
            if w == start:
                cycle = [v]
                while prev[cycle[-1]] is not None:
                    cycle.append(prev[cycle[-1]])
                return list(reversed(cycle)) + [start]
            if w in members and w not in prev:
                prev[w] = v
                queue.append(w)
    return comp


def check_crate(crate_dir):
    src = crate_dir / "src"
    modules = module_files(src)
    root = src / "lib.rs" if (src / "lib.rs").exists() else src / "main.rs"
    texts = {here: strip_comments_and_strings(file.read_text()) for here, file in modules.items()}
    exports = {(): reexports(strip_comments_and_strings(root.read_text()), (), modules)}
    for here, text in texts.items():
        exports[here] = reexports(text, here, modules)
    graph = {}
    for here, text in texts.items():
        deps = set()
        for path in referenced_paths(text, here):
            target = resolve(path, modules, exports)
            if target is not None and target != here:
                deps.add(target)
        graph[here] = deps
    return circles(graph), graph, len(modules)


def self_test():
    """The checker against a crate made to hold one circle of each form it reads: a
    checker that found nothing would pass any tree, so it must first find these."""
    import tempfile

    files = {
        "lib.rs": "mod a;\nmod b;\nmod c;\nmod d;\nmod e;\npub use d::Thing;\n",
        # a -> b through a grouped import, b -> a through an inline path.
        "a.rs": "use crate::{x::Y, b::{Z, W}};\n",
        "b.rs": "fn f() { crate::a::g(); }\n",
        # c -> d through the root's re-export, d -> c through `super`.
        "c.rs": "use crate::Thing;\n",
        "d.rs": "// crate::a::nothing in a comment is not an edge\nuse super::c::Other;\n",
        # e -> e::f by the child's bare name, e::f -> e through `super`.
        "e.rs": "mod f;\nfn g() { f::h(); }\n",
        "e/f.rs": "fn h() { super::g(); }\n",
    }
    with tempfile.TemporaryDirectory() as tmp:
        src = pathlib.Path(tmp) / "src"
        src.mkdir()
        for name, text in files.items():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_text(text)
        found, _, _ = check_crate(pathlib.Path(tmp))
    expected = [[("a",), ("b",)], [("c",), ("d",)], [("e",), ("e", "f")]]
    if sorted(found) != expected:
        print(f"module_cycles.py self-test: expected {expected}, found {found}")
        return False
    return True


def main():
    if not self_test():
        return 2
    failed = False
    only = set(sys.argv[1:])
    for crate_dir in sorted((ROOT / "crates").iterdir()):
        if not (crate_dir / "src").is_dir() or (only and crate_dir.name not in only):
            continue
        found, graph, count = check_crate(crate_dir)
        name = crate_dir.name
        if not found:
            print(f"{name}: {count} modules, no import circle")
            continue
        failed = True
        for comp in found:
            cycle = path_around(comp, graph)
            print(f"{name}: import circle: " + " -> ".join("::".join(m) for m in cycle))
            if len(comp) > len(cycle) - 1:
                print(f"{name}:   (the circle's modules: {', '.join('::'.join(m) for m in comp)})")
    if failed:
        print("move what the lower module needs down into it (or into a module below both), "
              "do not import up")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
