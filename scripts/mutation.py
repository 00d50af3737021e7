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
    python scripts/mutation.py --sample 30 [--seed 0] [--max-children 1]   # estimate, in under an hour
    python scripts/mutation.py --report --sample 30 [--seed 0]             # that estimate again

A full run takes hours on two cores (a mutant runs every test that calls its function, and the
functions every evaluation calls have many). ``--sample N`` draws N mutants of each module
uniformly (the same draw for the same source tree and seed), runs those only and prints each
module's score with its Wilson 95% interval: an unbiased estimate of the full run's score
(mutant sampling; Wong & Mathur 1995, "Reducing the cost of mutation testing: an empirical
study", JSS 31(3)).
"""

from __future__ import annotations

import random
import sys
import tomllib
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # libcst comes with mutmut (`make mutation`), not with the project
    import libcst as cst

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENT = ROOT / "scripts" / "mutation_equivalent.toml"
KILLED = {"killed", "timeout"}


def _is_registry_decorator(decorator: cst.Decorator) -> bool:
    import libcst as cst

    call = decorator.decorator
    return isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) and call.func.attr.value == "metric"


def _registered(node: cst.CSTNode) -> bool:
    import libcst as cst

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


def _module(name: str) -> str:
    return name.split(".x_")[0].split(".xǁ")[0]


def report(sample: list[str] | None = None) -> int:
    """The score per module of the last run's results (of ``sample``'s mutants only, with
    intervals, when given)."""
    equivalent = tomllib.loads(EQUIVALENT.read_text()) if EQUIVALENT.exists() else {}
    equivalent = {k: v for k, v in equivalent.items() if isinstance(v, str)}
    status = results()
    if sample is not None:
        status = {n: status.get(n, "not checked") for n in sample}
    by_module: dict[str, Counter[str]] = {}
    for name, s in sorted(status.items()):
        kind = "equivalent" if s == "survived" and name in equivalent else s
        by_module.setdefault(_module(name), Counter())[kind] += 1
    total: Counter[str] = Counter()
    interval = " 95% interval" if sample is not None else ""
    print(f"{'module':45} {'mutants':>8} {'killed':>7} {'survived':>9} {'no tests':>9} {'equiv.':>7} {'score':>7}{interval}")
    for module, c in sorted(by_module.items()):
        total += c
        print(_row(module, c, sample is not None))
    print(_row("all core modules", total, sample is not None))
    if sample is not None and total["not checked"]:
        print(f"\n{total['not checked']} sampled mutants not run yet")
    survivors = sorted(n for n, s in status.items() if s in {"survived", "no tests"} and n not in equivalent)
    print(f"\n{len(survivors)} survivors not judged equivalent (`mutmut show NAME` prints the diff)")
    for n in survivors:
        print(" ", n)
    return 0


def draw_sample(per_module: int, seed: int) -> list[str]:
    """``per_module`` mutants of each module, drawn uniformly: the same names for the same
    source tree (its mutants, in name order) and seed."""
    by_module: dict[str, list[str]] = {}
    for name in sorted(results()):
        by_module.setdefault(_module(name), []).append(name)
    rng = random.Random(seed)
    return [n for module in sorted(by_module) for n in rng.sample(by_module[module], min(per_module, len(by_module[module])))]


def generate(max_children: int) -> None:
    """mutmut's first phase alone (its ``run`` starts so): the mutated copies and their
    names, no test run, so that a sample is drawn from the current source."""
    from mutmut.__main__ import create_mutants, store_lines_covered_by_tests
    from mutmut.mutation.trampoline import set_mutant_under_test
    from mutmut.utils.file_utils import copy_also_copy_files, copy_src_dir, setup_source_paths

    set_mutant_under_test("mutant_generation")
    Path("mutants").mkdir(exist_ok=True)
    copy_src_dir()
    copy_also_copy_files()
    setup_source_paths()
    store_lines_covered_by_tests()
    create_mutants(max_children)


def _row(module: str, c: Counter[str], interval: bool = False) -> str:
    killed = sum(c[k] for k in KILLED)
    live = c["survived"] + c["no tests"]
    score = killed / (killed + live) if killed + live else float("nan")
    n = sum(c.values())
    row = f"{module:45} {n:8d} {killed:7d} {c['survived']:9d} {c['no tests']:9d} {c['equivalent']:7d} {score:7.1%}"
    if interval:
        from clicksynth.metrics._stats import wilson_ci

        lo, hi = wilson_ci(killed, killed + live)
        row += f" [{lo:.1%}, {hi:.1%}]"
    return row


def _option(argv: list[str], flag: str) -> int | None:
    """The integer after ``flag`` in ``argv`` (removed from it), or None."""
    if flag not in argv:
        return None
    i = argv.index(flag)
    value = int(argv[i + 1])
    del argv[i : i + 2]
    return value


def main(argv: list[str]) -> int:
    import os

    os.chdir(ROOT)
    argv = list(argv)
    per_module, seed = _option(argv, "--sample"), _option(argv, "--seed") or 0
    if "--report" in argv:  # results only: nothing generated or run
        return report(draw_sample(per_module, seed) if per_module is not None else None)
    patch_mutmut()
    sample = None
    if per_module is not None:
        generate(max_children=2)  # generation only; ``--max-children`` stays mutmut's, for the tests
        sample = draw_sample(per_module, seed)
    from mutmut.__main__ import cli

    cli(["run", *argv, *(sample or [])], standalone_mode=False)
    return report(sample)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
