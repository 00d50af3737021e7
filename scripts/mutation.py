"""Mutation testing of the core modules: `make mutation` (slow; not in CI).

Runs mutmut (configured in pyproject.toml, ``[tool.mutmut]``) and prints the score per module:
killed / (killed + survived), timeouts counted as killed, mutants no test reaches counted as
survivors. Survivors judged equivalent are listed, with the reason, in ``scripts/mutation_equivalent.toml``
and reported apart.

mutmut skips decorated functions, since copying a decorated function for its trampoline repeats the
decorator's side effects; our metrics are declared with a registry decorator (``@PRIVACY.metric(...)``),
which would leave the scorecard's own code unmutated. This script lets mutmut mutate functions whose
only decorators are such registry calls and strips the decorator from the copies it makes (the
original name stays registered once, through the trampoline).

    python scripts/mutation.py            # generate, run, print the score
    python scripts/mutation.py --report   # only print the score of the last run
"""

from __future__ import annotations

import sys
import tomllib
from collections import Counter
from pathlib import Path

import libcst as cst

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENT = ROOT / "scripts" / "mutation_equivalent.toml"
KILLED = {"killed", "timeout"}


def _is_registry_decorator(decorator: cst.Decorator) -> bool:
    call = decorator.decorator
    return isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) and call.func.attr.value == "metric"


def _registered(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.FunctionDef) and bool(node.decorators) and all(_is_registry_decorator(d) for d in node.decorators)


def patch_mutmut() -> None:
    """Mutate registry-decorated functions (see the module docstring)."""
    from mutmut.mutation import file_mutation as fm

    skip = fm.MutationVisitor._skip_node_and_children
    arrange = fm.function_trampoline_arrangement

    def skip_node(self: object, node: cst.CSTNode) -> bool:
        if _registered(node):
            return skip(self, node.with_changes(decorators=[]))  # type: ignore[arg-type]
        return skip(self, node)  # type: ignore[arg-type]

    def arrangement(function: cst.FunctionDef, mutants: object, class_name: str | None):  # type: ignore[no-untyped-def]
        parts = arrange(function, mutants, class_name)  # type: ignore[arg-type]
        if not _registered(function):
            return parts
        declarations, nodes, assignments, names = parts
        # The trampoline (named like the function) keeps the decorator; copies must not register.
        nodes = [n if n.name.value == function.name.value else n.with_changes(decorators=[]) for n in nodes]  # type: ignore[union-attr]
        return declarations, nodes, assignments, names

    fm.MutationVisitor._skip_node_and_children = skip_node  # type: ignore[method-assign]
    fm.function_trampoline_arrangement = arrangement  # type: ignore[assignment]


def results() -> dict[str, str]:
    """mutant name -> status of the last run."""
    from mutmut.__main__ import walk_mutatable_files
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.stats import status_by_exit_code

    out: dict[str, str] = {}
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        for name, code in data.exit_code_by_key.items():
            out[name] = status_by_exit_code[code]
    return out


def report() -> int:
    equivalent = tomllib.loads(EQUIVALENT.read_text()) if EQUIVALENT.exists() else {}
    equivalent = {k: v for k, v in equivalent.items() if isinstance(v, str)}
    status = results()
    by_module: dict[str, Counter[str]] = {}
    for name, s in sorted(status.items()):
        module = name.split(".x_")[0].split(".xǁ")[0]
        kind = "equivalent" if s == "survived" and name in equivalent else s
        by_module.setdefault(module, Counter())[kind] += 1
    total: Counter[str] = Counter()
    print(f"{'module':45} {'mutants':>8} {'killed':>7} {'survived':>9} {'no tests':>9} {'equiv.':>7} {'score':>7}")
    for module, c in sorted(by_module.items()):
        total += c
        print(_row(module, c))
    print(_row("all core modules", total))
    survivors = sorted(n for n, s in status.items() if s in {"survived", "no tests"} and n not in equivalent)
    print(f"\n{len(survivors)} survivors not judged equivalent (`mutmut show NAME` prints the diff)")
    for n in survivors:
        print(" ", n)
    return 0


def _row(module: str, c: Counter[str]) -> str:
    killed = sum(c[k] for k in KILLED)
    live = c["survived"] + c["no tests"]
    score = killed / (killed + live) if killed + live else float("nan")
    n = sum(c.values())
    return f"{module:45} {n:8d} {killed:7d} {c['survived']:9d} {c['no tests']:9d} {c['equivalent']:7d} {score:7.1%}"


def main(argv: list[str]) -> int:
    import os

    os.chdir(ROOT)
    if "--report" in argv:
        return report()
    patch_mutmut()
    from mutmut.__main__ import cli

    cli(["run", *argv], standalone_mode=False)
    return report()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
