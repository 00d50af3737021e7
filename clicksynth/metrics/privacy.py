"""Privacy: how close do synthetic rows come to the rows they were trained on?

Every number is read against a **holdout** control: real rows from the same
population that the generator never saw. A generator that learned the
population, not the individuals, puts its rows no closer to training rows than
to holdout rows.

Sets (drawn with the evaluation's rng):

* ``T``  the training rows, all of them up to a million: a copied row's original is
         always among them, so copies sit at distance 0 (beyond, the share searched is
         in ``dcr_share``'s details)
* ``Q``  synthetic rows (queries), at most ``max_rows``
* ``H``  holdout rows, at most ``max_rows``: the control, fresh rows whose
         distances to ``T`` show what "no closer than unseen real data" looks like

Each distance metric compares the synthetic rows' distances to ``T`` with the
holdout rows' distances to the same ``T``, so ``T``'s size cancels out and three
reference points hold: fresh real rows score the ideal, copies of training rows
the worst value, and a half-copied set lies between (``tests/test_metrics.py``).

Metrics: DCR share (probability that a synthetic row is closer to ``T`` than a
fresh row is; 0.5 fresh, 1 copies), DCR median ratio (1 fresh, 0 copies), NNDR
(nearest / second-nearest distance to ``T``; fresh rows score the holdout's,
copies 0), exact-match (hitting) rates against all training rows and against the
holdout, and a distance-based membership-inference attack AUC: an attacker
holding the synthetic rows scores each candidate by its distance to the nearest
synthetic row and tries to tell training members (from ``T``) from non-members
(from ``H``), as many of each. ``privacy_loss`` is the nearest-neighbour adversarial
accuracy gap of Yale et al. (2020), on its own equal-sized sets (see its docstring).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clicksynth.metrics._base import INF, EvalContext, MetricFamily, MetricResult, cached, compared_columns, subsample_rows
from clicksynth.metrics._stats import auc_with_ci, mean_ci, wilson_ci
from clicksynth.schema import Schema
from clicksynth.space import MixedSpace, canonical, row_hashes

__all__ = ["dcr_median_ratio", "dcr_share", "exact_match_holdout", "exact_match_train", "mia_auc", "nndr", "privacy_loss"]

# The membership attacker sees up to this many synthetic rows (all of them for
# any realistic release), and is tested on max_rows / 2 members and non-members.
_ATTACK_POOL = 1_000_000
# Training rows the distances are measured to: a copy shows only when its original is among
# them, so all of them up to a million (the 669k-row study's 400k training rows included; at
# 200k, copies of them scored DCR share 0.78, not 1). ``dcr_share`` reports the share searched.
_TRAIN_POOL = 1_000_000

PRIVACY = MetricFamily("privacy")


def _sets(real: pd.DataFrame, synth: pd.DataFrame, holdout: pd.DataFrame, ctx: EvalContext) -> dict[str, Any]:
    schema, rng, max_rows = ctx.schema, ctx.rng, ctx.max_rows

    def compute() -> dict[str, Any]:
        cols = compared_columns(schema, [real, synth, holdout])
        H = subsample_rows(holdout[cols], max_rows, rng)
        T = subsample_rows(real[cols], _TRAIN_POOL, rng)
        Q = subsample_rows(synth[cols], max_rows, rng)
        pool = subsample_rows(synth[cols], _ATTACK_POOL, rng)
        # Attack candidates: as many training members as holdout non-members, drawn at random
        # (the subsamples keep the tables' order, which may follow time or user).
        k = max(min(max_rows // 2, len(T), len(H)), 1)
        members, others = rng.choice(len(T), k, replace=False), rng.choice(len(H), k, replace=False)
        space = MixedSpace(schema, cols).fit(T)
        pq, ph, pt, pp = space.prepare(Q), space.prepare(H), space.prepare(T), space.prepare(pool)
        q_t = space.knn(pq, pt, 2)[0]
        h_t = space.knn(ph, pt, 2)[0]
        t_pool = space.knn(pt.take(members), pp, 1)[0][:, 0]
        h_pool = space.knn(ph.take(others), pp, 1)[0][:, 0]
        searched = len(T) / max(len(real), 1)
        return {"cols": cols, "q_t": q_t, "h_t": h_t, "t_pool": t_pool, "h_pool": h_pool, "searched": searched}

    return cached(ctx.cache, ("privacy:sets", max_rows, id(holdout)), compute)


def _hist(values: np.ndarray, edges: np.ndarray) -> list[int]:
    return np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)[0].tolist()


@PRIVACY.metric(higher_is_better=False, bounds=(0, 1), ideal=0.5, needs_holdout=True)
def dcr_share(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """Probability that a synthetic row lies closer to its nearest training row than a
    fresh real (holdout) row lies to its own (ties count half). 0.5: no closer to the
    training data than unseen real rows; 1: every synthetic row closer than every
    fresh row (copies of training rows)."""
    holdout = ctx.require_holdout("dcr_share")
    s = _sets(real, synth, holdout, ctx)
    d_q, d_h = s["q_t"][:, 0], s["h_t"][:, 0]
    # A Mann-Whitney comparison of the two distance samples, with DeLong's interval.
    value, ci = auc_with_ci(np.r_[np.ones(len(d_q)), np.zeros(len(d_h))], -np.r_[d_q, d_h])
    top = float(max(np.quantile(d_q, 0.99), np.quantile(d_h, 0.99), 1e-9))
    edges = np.linspace(0, top, 31)
    return MetricResult(
        value,
        ci,
        details={
            "rows": len(d_q),
            # Below 1, copies are under-counted: a copy's original may not be among the rows searched.
            "training_share_searched": s["searched"],
            "exact_copies": float(np.mean(d_q == 0)),
            "dcr_edges": edges.round(5).tolist(),
            "dcr_synthetic": _hist(d_q, edges),
            "dcr_holdout": _hist(d_h, edges),
        },
    )


@PRIVACY.metric(higher_is_better=True, bounds=(0, INF), ideal=1, needs_holdout=True)
def dcr_median_ratio(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """Median distance of synthetic rows to their nearest training row over that of holdout
    rows (1: as far as fresh real data; 0: copies). It reads the typical synthetic row, so it
    reaches 0 once half the rows are copies; DCR share and the hitting rate read the share.
    Means are used if the holdout median is 0."""
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
    """Mean nearest / second-nearest training-row distance ratio of synthetic rows. Near 0:
    synthetic rows sit on specific training records (copies score 0); fresh real rows
    score the holdout's ratio, given in details, which is the value to read it against
    (below 1 on any table with near neighbours)."""
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


def _whole_users(frame: pd.DataFrame, n: int, user: str | None, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` rows, taken user by user in a random order where the table has a user column. A user's
    rows resemble one another, so a set's nearest *other* row depends on how many of its users'
    rows it holds: drawn alike, training and holdout rows keep the same structure (drawn by rows,
    the training side broke users up and fresh data scored a loss of about 0.06)."""
    if not user or user not in frame.columns or len(frame) <= n:
        return subsample_rows(frame, n, rng)
    codes, uniques = pd.factorize(frame[user])
    rank = rng.permutation(len(uniques))[codes]
    order = np.lexsort((np.arange(len(frame)), rank))  # rows grouped by user, users in random order
    return frame.iloc[np.sort(order[:n])].reset_index(drop=True)


def _farther(d_across: np.ndarray, d_within: np.ndarray) -> np.ndarray:
    """1 where a row's nearest neighbour in the other set is farther than its nearest other
    neighbour in its own set, 0 where nearer, 1/2 on a tie (tied distances are common on
    categorical rows; Yale et al. count a strict ">" only)."""
    return np.where(d_across > d_within, 1.0, np.where(d_across == d_within, 0.5, 0.0))


@PRIVACY.metric(higher_is_better=False, bounds=(-1, 1), ideal=0, needs_holdout=True)
def privacy_loss(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """Nearest-neighbour adversarial accuracy gap, AA(holdout) - AA(train): 0 when synthetic rows
    sit no nearer the training rows than the holdout rows; above 0 as they copy training rows.

    Yale, Dash, Dutta, Guyon, Pavao & Bennett (2020), "Generation and evaluation of privacy
    preserving synthetic health data", Neurocomputing 416. With ``n`` rows of each of training
    ``T``, synthetic ``S`` and holdout ``E`` rows (equal sizes, as the paper requires: the smallest
    table's, capped at ``max_rows``) and ``d_XY(i)`` the distance of row i of X to its nearest row of
    Y (its nearest *other* row when X = Y), the adversarial accuracy of S against T is
    ``AA_TS = (mean_i[d_TS(i) > d_TT(i)] + mean_i[d_ST(i) > d_SS(i)]) / 2`` (0.5: an adversary
    cannot tell the sets apart by nearest neighbours), likewise ``AA_ES``, and the privacy loss is
    ``AA_ES - AA_TS``. Deviations: ties count half; distances are the scorecard's mixed-type
    space; tables with a user column are drawn by whole users (ad logs are not one row per
    person); the interval resamples the rows' indicators (bootstrap, neighbours not recomputed).
    When the training rows outnumber ``n``, a copy's original is in ``T`` with probability
    ``n / len(train)``, so copies score below their full-size 0.5; DCR share reads all of them.
    """
    holdout = ctx.require_holdout("privacy_loss")
    rng = ctx.rng
    cols = compared_columns(ctx.schema, [real, synth, holdout])
    n = min(len(real), len(synth), len(holdout), ctx.max_rows)
    T, S, E = (_whole_users(f, n, ctx.schema.user_column, rng)[cols] for f in (real, synth, holdout))
    space = MixedSpace(ctx.schema, cols).fit(T)
    pt, ps, pe = space.prepare(T), space.prepare(S), space.prepare(E)

    def nearest(a: Any, b: Any) -> np.ndarray:
        return space.knn(a, b, 1)[0][:, 0]

    def nearest_other(a: Any) -> np.ndarray:
        return space.knn(a, a, 2)[0][:, 1]  # the first neighbour of a row in its own set is itself

    d_ss = nearest_other(ps)
    t_far, st_far = _farther(nearest(pt, ps), nearest_other(pt)), _farther(nearest(ps, pt), d_ss)
    e_far, se_far = _farther(nearest(pe, ps), nearest_other(pe)), _farther(nearest(ps, pe), d_ss)

    def loss(it: np.ndarray, i_s: np.ndarray, ie: np.ndarray) -> float:
        return float((e_far[ie].mean() + se_far[i_s].mean()) / 2 - (t_far[it].mean() + st_far[i_s].mean()) / 2)

    every = np.arange(n)
    draws = np.array([loss(*(rng.integers(0, n, n) for _ in range(3))) for _ in range(200)])
    aa_train, aa_holdout = float((t_far.mean() + st_far.mean()) / 2), float((e_far.mean() + se_far.mean()) / 2)
    return MetricResult(
        loss(every, every, every),
        (float(np.quantile(draws, 0.025)), float(np.quantile(draws, 0.975))),
        details={"rows": n, "aa_train": aa_train, "aa_holdout": aa_holdout},
    )
