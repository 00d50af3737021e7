"""Convergence of the trainable generators on the main job's default split (issue #14):
detection AUC, DCR share and TSTR PR-AUC against training epochs, one fit per point.

    .venv/bin/python -u benchmarks/convergence.py                                 # ctgan, tvae, autoregressive
    .venv/bin/python -u benchmarks/convergence.py --generators tvae --epochs tvae=10,30,100

The split is the main job's (embedded DIGIX 2020, 30,000 rows, split by user with the
main job's seed); each point fits the generator from scratch with that many epochs (the
autoregressive model stops early on its validation rows, so its epochs are a cap and the
epochs it ran are printed), samples a table of the training set's size and balance, and
scores it as a main-job cell does. ``holdout`` (fresh real rows) is the reference. The
last lines name, per generator, the fewest epochs whose detection AUC is within 0.02 of
the curve's best (the largest measured where every point stays at the ceiling): the epochs of
``clicksynth run --profile thorough`` (``bench.config.CONVERGED_EPOCHS``).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from typing import Any

import pandas as pd

from clicksynth.bench.cell import load_split, split_seed
from clicksynth.bench.config import DEFAULT_FRACTIONS, STUDY_MAX_ROWS
from clicksynth.generators import get_generator
from clicksynth.metrics import evaluate, holdout_halves
from clicksynth.pipeline import BUDGETS, DEFAULT_ROWS

METRICS = ["detection_xgboost", "dcr_share", "tstr_pr_auc"]
SCHEDULES = {"ctgan": (10, 30, 60, 100), "tvae": (10, 30, 60, 100), "autoregressive": (10, 20, 30, 45, 60)}
#: Detection AUC within this of the curve's best counts as converged.
CONVERGED = 0.02


def score(train: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame, test: pd.DataFrame, schema: Any) -> dict[str, float]:
    s = evaluate(train, synthetic, holdout=holdout, test=test, schema=schema, metrics=METRICS, references=False, max_rows=STUDY_MAX_ROWS)
    return dict(zip(s["metric"], s["value"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--generators", default=",".join(SCHEDULES))
    ap.add_argument("--epochs", action="append", default=[], help="name=e1,e2,... (repeatable)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    schedules = dict(SCHEDULES)
    for item in args.epochs:
        name, _, values = item.partition("=")
        schedules[name] = tuple(int(v) for v in values.split(","))
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
    train, holdout, test, schema = load_split("digix2020", None, None, DEFAULT_ROWS, DEFAULT_FRACTIONS, split_seed(0, "digix2020", 0))
    target, ids = schema.target, schema.of_kind("id")
    assert target is not None
    X, y = train.drop(columns=[target, *ids]), train[target]
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    fresh, other_half = holdout_halves(holdout, schema, args.seed)
    ref = score(train, fresh, other_half, test, schema)
    print(f"holdout (fresh rows): detection {ref['detection_xgboost']:.3f}  dcr {ref['dcr_share']:.3f}  tstr {ref['tstr_pr_auc']:.4f}")
    rows = []
    for name in args.generators.split(","):
        for epochs in schedules[name]:
            params = {**BUDGETS.get(name, {}), "epochs": epochs}
            gen = get_generator(name, random_state=args.seed, **params)
            t0 = time.perf_counter()
            gen.fit(X, y, schema=schema.drop([target, *ids]))
            fit_s = time.perf_counter() - t0
            ran = len(getattr(gen, "history_", None) or []) or epochs
            got = score(train, gen.sample({0: n_neg, 1: n_pos}), holdout, test, schema)
            row = {"generator": name, "epochs": epochs, "ran": ran, "fit_s": fit_s, **got}
            rows.append(row)
            print(
                f"{name:15s} epochs {epochs:4d} (ran {ran:3d})  fit {fit_s:7.1f}s  detection {got['detection_xgboost']:.3f}  "
                f"dcr {got['dcr_share']:.3f}  tstr {got['tstr_pr_auc']:.4f}",
                flush=True,
            )
    table = pd.DataFrame(rows)
    print()
    print("| generator | epochs | ran | fit s | detection AUC | DCR share | TSTR PR-AUC |")
    print("|---|---|---|---|---|---|---|")
    for r in table.itertuples():
        print(
            f"| {r.generator} | {r.epochs} | {r.ran} | {r.fit_s:.0f} | {r.detection_xgboost:.3f} | {r.dcr_share:.3f} | {r.tstr_pr_auc:.4f} |"
        )
    print()
    for name, curve in table.groupby("generator", sort=False):
        print(converged(name, curve))


def converged(name: str, curve: pd.DataFrame) -> str:
    """The fewest epochs whose detection AUC is within CONVERGED of the curve's best; a curve
    pinned at the ceiling (every point >= 0.99: no epochs in the range help) keeps the largest."""
    best = curve["detection_xgboost"].min()
    if best >= 0.99:
        top = int(curve["epochs"].max())
        return f"converged: {name} not within the range (detection >= {best:.3f} throughout); thorough takes {top} epochs"
    enough = curve[curve["detection_xgboost"] <= best + CONVERGED].sort_values("epochs").iloc[0]
    return f"converged: {name} at {int(enough['epochs'])} epochs (detection {enough['detection_xgboost']:.3f}; best {best:.3f})"


if __name__ == "__main__":
    main()
