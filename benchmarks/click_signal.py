"""How well the autoregressive generator knows the clicks, and what its clicks add (issue #15).

    .venv/bin/python -u benchmarks/click_signal.py --seeds 0 1                      # fit at the defaults
    .venv/bin/python -u benchmarks/click_signal.py --seeds 0 --set dropout=0.1       # a sweep point
    .venv/bin/python -u benchmarks/click_signal.py --seeds 0 --load 'models/ar{seed}.csm' --temperatures 0.8 1 1.3

A generator's click rows can only help a click model with what the generator knows of clicks.
Its own click score, log p(x | click) - log p(x | non-click) from ``score_samples``, ranks test rows
as a classifier would: its PR-AUC, beside the XGBoost click model trained on the real training rows,
says whether the generator learned more of the click signal than the click model already has
(its PR-AUC on the training rows says how much of it is memorised). Then the augmentation Δ of its
clicks at 1:4 on the same rows. Scored on the main job's default split (207 test clicks) and on the
fresh users' test (``fresh_users.py``: about 11,000 clicks), beside fresh real clicks and copies of
the training clicks. Needs ``../shared/data`` (or ``CLICKSYNTH_DATA_DIR``).
"""

from __future__ import annotations

import argparse
import json
import platform
from typing import Any

import numpy as np
import pandas as pd
from autoregressive import augment_delta, default_split
from fresh_users import fresh_users
from sklearn.metrics import average_precision_score

from clicksynth.bench.config import DEFAULT_RATIO
from clicksynth.generators import get_generator
from clicksynth.generators.base import Generator
from clicksynth.metrics import EvalContext
from clicksynth.metrics.utility import fitted_model
from clicksynth.pipeline import BUDGETS
from clicksynth.rebalance import synthetic_count


def own_click_score(gen: Any, frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    """log p(x | click) - log p(x | non-click) of each row under the generator."""
    X = frame[features]
    return gen.score_samples(X, np.ones(len(X), np.int64)) - gen.score_samples(X, np.zeros(len(X), np.int64))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--set", action="append", default=[], help="param=value (JSON value) of the autoregressive generator")
    ap.add_argument("--load", default=None, help="model files to score instead of fitting ('{seed}' replaced)")
    ap.add_argument("--temperatures", type=float, nargs="+", default=[1.0], help="sampling temperatures of the added clicks")
    args = ap.parse_args()
    split = default_split()
    train, holdout, test, schema = split
    target = schema.target
    features = [c for c in train.columns if c not in (target, *schema.of_kind("id"))]
    y = train[target].to_numpy()
    n_pos, n_neg = int(y.sum()), int((y == 0).sum())
    k = synthetic_count(n_pos, n_neg, ratio=DEFAULT_RATIO)
    fresh = fresh_users(split)
    big = fresh.test
    print(f"# {platform.machine()}, {platform.python_version()}; fresh test {len(big):,} rows / {int(big[target].sum()):,} clicks")
    params = {**BUDGETS.get("autoregressive", {}), **{p: json.loads(v) for p, _, v in (s.partition("=") for s in args.set)}}
    params.pop("max_time", None)  # budgets in epochs only, as in autoregressive.py
    for seed in args.seeds:
        ctx = EvalContext(schema, np.random.default_rng(seed), holdout=holdout, test=test, params={"model_seed": seed})
        real = fitted_model("real", train, train, ctx)
        print(
            f"xgboost on the real rows, seed {seed}: PR-AUC test {average_precision_score(test[target], real.predict_proba(test)):.4f}, "
            f"fresh test {average_precision_score(big[target], real.predict_proba(big)):.4f}",
            flush=True,
        )
        if args.load:
            source = args.load.replace("{seed}", str(seed))
            gen = Generator.load(source)
        else:
            source = json.dumps(params)
            gen = get_generator("autoregressive", random_state=seed, **params).fit(train[features], y, schema=schema.select(features))
        pr = {
            name: average_precision_score(f[target], own_click_score(gen, f, features))
            for name, f in (("train", train), ("test", test), ("fresh", big))
        }
        print(
            f"own click score, seed {seed} {source}: PR-AUC train {pr['train']:.4f}, test {pr['test']:.4f}, fresh test {pr['fresh']:.4f}",
            flush=True,
        )
        rng = np.random.default_rng(seed)
        sources = {
            "fresh clicks": fresh.clicks.iloc[rng.choice(len(fresh.clicks), k, replace=False)],
            "copies": train[y == 1].iloc[rng.choice(n_pos, k, replace=True)],
        }
        for t in args.temperatures:
            gen.temperature = t
            clicks = gen.sample({1: k})
            sources[f"autoregressive at temperature {t}"] = clicks.astype({c: train[c].dtype for c in features})
        for name, extra in sources.items():
            (d, lo, hi), (b, blo, bhi) = augment_delta(split, extra.reset_index(drop=True), seed, tests=[big])
            print(
                f"augment +{k} {name}, seed {seed}: Δ test {d:+.4f} [{lo:+.4f}, {hi:+.4f}], fresh test {b:+.4f} [{blo:+.4f}, {bhi:+.4f}]",
                flush=True,
            )


if __name__ == "__main__":
    main()
