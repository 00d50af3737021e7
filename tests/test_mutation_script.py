"""scripts/mutation.py's sampled estimate (`--sample N`): which mutants it draws and how it
scores them (the mutation runs themselves are `make mutation`'s, not CI's)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from clicksynth.metrics._stats import wilson_ci


def _script():
    spec = importlib.util.spec_from_file_location("mutation_script", Path(__file__).parents[1] / "scripts" / "mutation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_sample_draws_n_mutants_per_module_the_same_for_a_seed_and_scores_them(monkeypatch, capsys):
    script = _script()
    status = {f"pkg.a.x_f__mutmut_{i}": "killed" for i in range(40)}
    status |= {f"pkg.a.xǁCǁg__mutmut_{i}": "not checked" for i in range(10)}  # a method: the same module
    status |= {f"pkg.b.x_h__mutmut_{i}": s for i, s in enumerate(["survived", "timeout", "no tests"])}
    monkeypatch.setattr(script, "results", lambda: status)
    sample = script.draw_sample(12, seed=0)
    assert sample == script.draw_sample(12, seed=0) and set(sample) != set(script.draw_sample(12, seed=1))
    assert len(set(sample)) == 15 and sum(n.startswith("pkg.a.") for n in sample) == 12  # b has only 3
    assert {n for n in sample if n.startswith("pkg.b.")} == {n for n in status if n.startswith("pkg.b.")}
    script.report(sample)
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("pkg.")}
    a_run = sum(status[n] == "killed" for n in sample if n.startswith("pkg.a."))
    lo, hi = wilson_ci(a_run, a_run)
    assert rows["pkg.a"].split()[1:3] == ["12", str(a_run)] and rows["pkg.a"].endswith(f"100.0% [{lo:.1%}, {hi:.1%}]")
    # b: the timeout counts as killed, the survivor and the mutant no test reaches as live
    lo, hi = wilson_ci(1, 3)
    assert rows["pkg.b"].split()[1:] == ["3", "1", "1", "1", "0", "33.3%", f"[{lo:.1%},", f"{hi:.1%}]"]
