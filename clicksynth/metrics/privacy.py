"""Privacy: how close do synthetic rows come to the rows they were trained on?

Every number is read against a **holdout** control: real rows from the same
population that the generator never saw. A generator that learned the
population, not the individuals, puts its rows no closer to training rows than
to holdout rows.

Sets (each capped at ``max_rows`` with the evaluation's rng):

* ``Q``  synthetic rows (queries)
* ``H``  holdout rows
* ``T``  training rows, subsampled to ``len(H)`` so "closer to T than to H" has
         probability 1/2 for a generator that does not memorise

Metrics: DCR share (synthetic rows closer to T than to H; ideal 0.5), DCR median
ratio (synthetic vs holdout distance to T; >= 1 is as private as fresh data),
NNDR (nearest / second-nearest distance to T), exact-match (hitting) rates
against all training rows and against the holdout, and a distance-based
membership-inference attack AUC: an attacker holding the synthetic rows scores
each candidate by its distance to the nearest synthetic row and tries to tell
training members (T) from non-members (H).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clicksynth.metrics._base import EvalContext, MetricFamily, MetricResult, cached, compared_columns, subsample_rows
from clicksynth.metrics._stats import auc_with_ci, mean_ci, wilson_ci
from clicksynth.schema import Schema
from clicksynth.space import MixedSpace, canonical, row_hashes

__all__ = ["dcr_median_ratio", "dcr_share", "exact_match_holdout", "exact_match_train", "mia_auc", "nndr"]

# The membership attacker sees up to this many synthetic rows (all of them for
# any realistic release), and is tested on max_rows / 2 members and non-members.
_ATTACK_POOL = 200_000

PRIVACY = MetricFamily("privacy")
INF = float("inf")


def _sets(real: pd.DataFrame, synth: pd.DataFrame, holdout: pd.DataFrame, ctx: EvalContext) -> dict[str, Any]:
    schema, rng, max_rows = ctx.schema, ctx.rng, ctx.max_rows

    def compute() -> dict[str, Any]:
        cols = compared_columns(schema, [real, synth, holdout])
        H = subsample_rows(holdout[cols], max_rows, rng)
        T = subsample_rows(real[cols], len(H), rng)
        Q = subsample_rows(synth[cols], max_rows, rng)
        pool = subsample_rows(synth[cols], _ATTACK_POOL, rng)
        half = max(max_rows // 2, 1)
        space = MixedSpace(schema, cols).fit(T)
        pq, ph, pt, pp = space.prepare(Q), space.prepare(H), space.prepare(T), space.prepare(pool)
        q_t = space.knn(pq, pt, 2)[0]
        q_h = space.knn(pq, ph, 1)[0][:, 0]
        h_t = space.knn(ph, pt, 2)[0]
        t_pool = space.knn(pt.take(np.arange(min(half, len(T)))), pp, 1)[0][:, 0]
        h_pool = space.knn(ph.take(np.arange(min(half, len(H)))), pp, 1)[0][:, 0]
        return {"cols": cols, "Q": Q, "q_t": q_t, "q_h": q_h, "h_t": h_t, "t_pool": t_pool, "h_pool": h_pool}

    return cached(ctx.cache, ("privacy:sets", max_rows, id(holdout)), compute)


def _hist(values: np.ndarray, edges: np.ndarray) -> list[int]:
    return np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)[0].tolist()


@PRIVACY.metric(higher_is_better=False, bounds=(0, 1), ideal=0.5, needs_holdout=True)
def dcr_share(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """Share of synthetic rows closer to a training row than to any holdout row (ties
    count half). 0.5: no closer to training data than fresh data; 1: memorised."""
    holdout = ctx.require_holdout("dcr_share")
    s = _sets(real, synth, holdout, ctx)
    d_t, d_h = s["q_t"][:, 0], s["q_h"]
    closer = (d_t < d_h).sum() + 0.5 * (d_t == d_h).sum()
    n = len(d_t)
    top = float(max(np.quantile(d_t, 0.99), np.quantile(s["h_t"][:, 0], 0.99), 1e-9))
    edges = np.linspace(0, top, 31)
    return MetricResult(
        float(closer / n),
        wilson_ci(float(closer), n),
        details={
            "rows": n,
            "ties": int((d_t == d_h).sum()),
            "dcr_edges": edges.round(5).tolist(),
            "dcr_synthetic": _hist(d_t, edges),
            "dcr_holdout": _hist(s["h_t"][:, 0], edges),
        },
    )


@PRIVACY.metric(higher_is_better=True, bounds=(0, INF), ideal=1, needs_holdout=True)
def dcr_median_ratio(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """Median distance of synthetic rows to training rows over that of holdout rows
    (1: as far as fresh real data; near 0: copies). Means are used if the holdout median is 0."""
    holdout = ctx.require_holdout("dcr_median_ratio")
    s = _sets(real, synth, holdout, ctx)
    d_q, d_h = s["q_t"][:, 0], s["h_t"][:, 0]
    stat = np.median if np.median(d_h) > 0 else np.mean

    def ratio(a: np.ndarray, b: np.ndarray) -> float:
        den = stat(b)
        return float(stat(a) / den) if den > 0 else float("nan")

    value = ratio(d_q, d_h)
    draws = [ratio(d_q[ctx.rng.integers(0, len(d_q), len(d_q))], d_h[ctx.rng.integers(0, len(d_h), len(d_h))]) for _ in range(200)]
    boots = np.array([b for b in draws if np.isfinite(b)])
    ci = (float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))) if len(boots) > 10 else None
    return MetricResult(
        value,
        ci,
        details={"statistic": stat.__name__, "synthetic": float(stat(d_q)), "holdout": float(stat(d_h))},
    )


def _nndr(d: np.ndarray) -> np.ndarray:
    # Two exact matches: the row is not singled out by one record, ratio 1.
    return np.where(d[:, 1] > 0, d[:, 0] / np.maximum(d[:, 1], 1e-12), 1.0)


@PRIVACY.metric(higher_is_better=True, bounds=(0, 1), ideal=1, needs_holdout=True)
def nndr(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """Mean nearest / second-nearest training-row distance ratio of synthetic rows (near 0:
    a synthetic row sits on one specific training record). Details give the holdout's."""
    holdout = ctx.require_holdout("nndr")
    s = _sets(real, synth, holdout, ctx)
    r = _nndr(s["q_t"])
    return MetricResult(float(r.mean()), mean_ci(r), details={"holdout": float(_nndr(s["h_t"]).mean())})


def _hash_set(frame: pd.DataFrame, schema: Schema, cols: list[str]) -> np.ndarray:
    return np.unique(row_hashes(canonical(frame, schema, cols)))


@PRIVACY.metric(higher_is_better=False, bounds=(0, 1), ideal=0)
def exact_match_train(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """Share of synthetic rows identical to some training row (hitting rate)."""
    cols = compared_columns(ctx.schema, [real, synth])
    train_hashes = cached(ctx.cache, ("hashes:train", tuple(cols)), lambda: _hash_set(real, ctx.schema, cols), shared=True)
    q = row_hashes(canonical(subsample_rows(synth, _ATTACK_POOL, ctx.rng), ctx.schema, cols))
    hits = np.isin(q, train_hashes)
    return MetricResult(float(hits.mean()), wilson_ci(float(hits.sum()), len(hits)), details={"rows": len(q)})


@PRIVACY.metric(higher_is_better=False, bounds=(0, 1), ideal=0, needs_holdout=True)
def exact_match_holdout(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """Share of synthetic rows identical to some holdout row: the rate at which real rows
    coincide by chance, against which the training hitting rate is read."""
    holdout = ctx.require_holdout("exact_match_holdout")
    cols = compared_columns(ctx.schema, [real, synth, holdout])
    hold = _hash_set(holdout, ctx.schema, cols)
    q = row_hashes(canonical(subsample_rows(synth, _ATTACK_POOL, ctx.rng), ctx.schema, cols))
    hits = np.isin(q, hold)
    return MetricResult(float(hits.mean()), wilson_ci(float(hits.sum()), len(hits)), details={"rows": len(q)})


@PRIVACY.metric(higher_is_better=False, bounds=(0, 1), ideal=0.5, needs_holdout=True)
def mia_auc(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """ROC-AUC of a distance-to-closest-synthetic-row membership attack, training members
    vs holdout non-members (0.5: the attacker learns nothing; 1: membership revealed)."""
    holdout = ctx.require_holdout("mia_auc")
    s = _sets(real, synth, holdout, ctx)
    d_members, d_others = s["t_pool"], s["h_pool"]
    y = np.r_[np.ones(len(d_members)), np.zeros(len(d_others))]
    auc, ci = auc_with_ci(y, -np.r_[d_members, d_others])
    return MetricResult(auc, ci, details={"members": len(d_members), "non_members": len(d_others)})
