"""The engine's import picture at the level of folders (and loose modules): arrows between them, and every loop.

A loop between folders means the folders lie about the design (a helper folder that reaches a stage, say).
Run: python tools/folder_imports.py  (prints the arrows, then the loops; exit 1 if there is a loop)."""

from __future__ import annotations

import sys

import grimp


def unit(module: str) -> str:
    """engine.stages.prune.run -> engine.stages; engine.prune.layers -> engine.prune; engine.workspace stays."""
    parts = module.split(".")
    return ".".join(parts[:2])


def ignored() -> set[tuple[str, str]]:
    """The imports the layers contract allows by name (pyproject.toml ignore_imports), each with its reason there."""
    import tomllib

    with open("pyproject.toml", "rb") as f:
        contracts = tomllib.load(f)["tool"]["importlinter"]["contracts"]
    pairs = (line.split(" -> ") for c in contracts for line in c.get("ignore_imports", ()))
    return {(a.strip(), b.strip()) for a, b in pairs}


def folder_graph() -> dict[str, set[str]]:
    g = grimp.build_graph("engine")
    allowed = ignored()
    arrows: dict[str, set[str]] = {}
    for m in g.modules:
        for imported in g.find_modules_directly_imported_by(m):
            if (m, imported) in allowed:
                continue
            a, b = unit(m), unit(imported)
            if a != b:
                arrows.setdefault(a, set()).add(b)
    return arrows


def loops(arrows: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in arrows.get(v, ()):
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
                out.append(sorted(comp))

    for v in sorted(set(arrows) | {w for ws in arrows.values() for w in ws}):
        if v not in index:
            visit(v)
    return out


def main() -> int:
    sys.setrecursionlimit(10000)
    arrows = folder_graph()
    n = sum(len(v) for v in arrows.values())
    print(f"{len(arrows)} folders/modules import others; {n} arrows")
    for a in sorted(arrows):
        print(f"  {a} -> {', '.join(sorted(arrows[a]))}")
    found = loops(arrows)
    print(f"loops: {len(found)}")
    for comp in found:
        print("  " + " <-> ".join(comp))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
