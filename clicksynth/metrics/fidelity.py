"""Fidelity: does the synthetic table look like the real one?

Per column: KS and total-variation complements, Jensen-Shannon distance,
smoothed KL divergence, spread-normalised Wasserstein distance, Hellinger
distance; list columns on their length and item distributions.
Joint: correlation and contingency similarity with per-pair breakdowns,
detection (C2ST) AUC and pMSE, precision / recall / density / coverage on the
mixed-type embedding, and agreement of what a CTR model and an L1 logistic
model learn from real vs synthetic rows.

Each metric is ``(real, synth, ctx: EvalContext) -> MetricResult``, declared
with its direction, bounds and ideal by ``@FIDELITY.metric``.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import special, stats

from clicksynth.metrics._base import INF, EvalContext, MetricFamily, MetricResult, cached, compared_columns, subsample_rows
from clicksynth.metrics._stats import Z95, auc_with_ci, mean_ci, wilson_ci
from clicksynth.prep.lists import explode_items, list_lengths
from clicksynth.schema import Schema
from clicksynth.seeding import int_seed
from clicksynth.space import MixedSpace, canonical
from clicksynth.split import assign_splits

__all__ = [
    "contingency_similarity",
    "correlation_similarity",
    "detection_logistic",
    "detection_xgboost",
    "hellinger",
    "importance_agreement",
    "js_distance",
    "kl_divergence",
    "ks_complement",
    "lasso_agreement",
    "list_item_similarity",
    "list_length_similarity",
    "pmse",
    "prdc_coverage",
    "prdc_density",
    "prdc_precision",
    "prdc_recall",
    "tv_complement",
    "wasserstein",
]

FIDELITY = MetricFamily("fidelity")

MAX_FIDELITY_ROWS = 50_000  # per-column statistics are cheap: use many rows
BOOT_REPS = 50
BOOT_VALUES = 5_000
NUMERIC_BINS = 50


# -- shared preparation -------------------------------------------------------------------
def _canon(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Both tables subsampled and canonicalised once per evaluation subject."""
    schema, rng = ctx.schema, ctx.rng

    def compute() -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
        cols = compared_columns(schema, [real, synth])
        r = canonical(subsample_rows(real, MAX_FIDELITY_ROWS, rng), schema, cols)
        s = canonical(subsample_rows(synth, MAX_FIDELITY_ROWS, rng), schema, cols)
        return r, s, cols

    return cached(ctx.cache, "fidelity:canon", compute)


def _kind(schema: Schema, col: str) -> str:
    kind = schema[col].kind
    return "categorical" if kind == "target" else ("numeric" if kind == "datetime" else kind)


def _hist(r: pd.Series, s: pd.Series, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Counts of real and synthetic values over a common support (NaN is its own cell)."""
    if kind == "numeric":
        rv = r.to_numpy(dtype=float)
        sv = s.to_numpy(dtype=float)
        ok = rv[~np.isnan(rv)]
        edges = np.unique(np.quantile(ok, np.linspace(0, 1, NUMERIC_BINS + 1))) if len(ok) else np.array([0.0])
        inner = edges[1:-1]
        rc = np.bincount(np.where(np.isnan(rv), len(inner) + 1, np.searchsorted(inner, rv, side="right")), minlength=len(inner) + 2)
        sc = np.bincount(np.where(np.isnan(sv), len(inner) + 1, np.searchsorted(inner, sv, side="right")), minlength=len(inner) + 2)
        return rc.astype(float), sc.astype(float)
    rvals = r.astype(object).where(r.notna(), "\x00nan")
    svals = s.astype(object).where(s.notna(), "\x00nan")
    support = pd.Index(pd.unique(pd.concat([rvals, svals], ignore_index=True)))
    rc = np.bincount(support.get_indexer(rvals), minlength=len(support))
    sc = np.bincount(support.get_indexer(svals), minlength=len(support))
    return rc.astype(float), sc.astype(float)


def _hist_with_boot(
    r: pd.Series, s: pd.Series, kind: str, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    pr, ps = _hist(r, s, kind)
    nr, ns = int(pr.sum()), int(ps.sum())
    if nr == 0 or ns == 0:
        return pr, ps, None, None
    br = rng.multinomial(nr, _norm(pr), size=BOOT_REPS).astype(float)
    bs = rng.multinomial(ns, _norm(ps), size=BOOT_REPS).astype(float)
    return pr, ps, br, bs


def _list_items(s: pd.Series) -> pd.Series:
    return explode_items(s).reset_index(drop=True)


# Distances between two count vectors (they are normalised inside).
def _norm(c: np.ndarray) -> np.ndarray:
    return c / c.sum()


def _empty_side(p: np.ndarray, q: np.ndarray) -> float | None:
    """The distance when a side has no value at all, else None.

    One empty side shares nothing with the other (distance 1, the bound of TV,
    JS and Hellinger); two empty sides have nothing to compare (NaN, which the
    column mean skips).
    """
    ep, eq = not p.sum() > 0, not q.sum() > 0
    if ep and eq:
        return float("nan")
    return 1.0 if ep or eq else None


def _tv(p: np.ndarray, q: np.ndarray) -> float:
    if (empty := _empty_side(p, q)) is not None:
        return empty
    return float(0.5 * np.abs(_norm(p) - _norm(q)).sum())


def _js(p: np.ndarray, q: np.ndarray) -> float:
    if (empty := _empty_side(p, q)) is not None:
        return empty
    p, q = _norm(p), _norm(q)
    m = 0.5 * (p + q)
    nats = special.rel_entr(p, m).sum() + special.rel_entr(q, m).sum()  # rel_entr: 0 log 0 = 0
    return float(np.sqrt(max(0.5 * nats / np.log(2), 0.0)))


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    # Jeffreys smoothing (half a count per cell) keeps KL finite when synthetic
    # data misses a real category (or has no value at all).
    if not (p.sum() > 0 or q.sum() > 0):
        return float("nan")
    p, q = _norm(p + 0.5), _norm(q + 0.5)
    return float(np.sum(p * np.log(p / q)))


def _hellinger(p: np.ndarray, q: np.ndarray) -> float:
    if (empty := _empty_side(p, q)) is not None:
        return empty
    p, q = _norm(p), _norm(q)
    return float(np.sqrt(max(0.0, 1 - np.sum(np.sqrt(p * q)))))


def _per_column(
    real: pd.DataFrame,
    synth: pd.DataFrame,
    ctx: EvalContext,
    kinds: tuple[str, ...],
    on_counts: Callable[[np.ndarray, np.ndarray], float] | None = None,
    exact: Callable[[np.ndarray, np.ndarray], float] | None = None,
    view: Callable[[pd.Series], pd.Series] | None = None,
) -> MetricResult:
    """Per-column statistic, its mean over columns, and a bootstrap CI of that mean.

    Histogram statistics (``on_counts``) are bootstrapped by multinomial
    resampling of the two count vectors; sample statistics (``exact``, on the
    non-missing values) by resampling at most ``BOOT_VALUES`` values per side.
    """
    schema, rng, cache = ctx.schema, ctx.rng, ctx.cache
    r, s, cols = _canon(real, synth, ctx)
    cols = [c for c in cols if _kind(schema, c) in kinds]
    if not cols:
        return MetricResult(float("nan"), details={"reason": f"no {'/'.join(kinds)} columns"})
    breakdown: dict[str, float] = {}
    boots = np.full((BOOT_REPS, len(cols)), np.nan)
    for j, c in enumerate(cols):
        rc, sc = r[c], s[c]
        if view is not None:
            rc, sc = view(rc), view(sc)
        if exact is not None:
            rv, sv = rc.dropna().to_numpy(dtype=float), sc.dropna().to_numpy(dtype=float)
            if len(rv) == 0 or len(sv) == 0:
                breakdown[c] = float("nan")
                continue
            breakdown[c] = exact(rv, sv)
            rb, sb = rv[rng.integers(0, len(rv), min(len(rv), BOOT_VALUES))], sv[rng.integers(0, len(sv), min(len(sv), BOOT_VALUES))]
            for b in range(BOOT_REPS):
                boots[b, j] = exact(rb[rng.integers(0, len(rb), len(rb))], sb[rng.integers(0, len(sb), len(sb))])
            continue
        assert on_counts is not None
        # The histograms and their resamples are shared by TV, JS, KL and Hellinger.
        key = ("fidelity:hist", c, view.__name__ if view else None)
        pr, ps, br, bs = cached(cache, key, functools.partial(_hist_with_boot, rc, sc, _kind(schema, c), rng))
        breakdown[c] = on_counts(pr, ps)
        if br is None:
            continue
        boots[:, j] = [on_counts(br[b], bs[b]) for b in range(BOOT_REPS)]
    if all(np.isnan(v) for v in breakdown.values()):
        return MetricResult(float("nan"), details={"reason": "no value on either side of any column"}, breakdown=breakdown)
    value = float(np.nanmean(list(breakdown.values())))
    resampled = ~np.isnan(boots).all(axis=0)  # columns with no bootstrap (a side without values) stay out
    means = np.nanmean(boots[:, resampled], axis=1) if resampled.any() else np.empty(0)
    if len(means) < 2:
        return MetricResult(value, details={"columns": len(cols)}, breakdown=breakdown)
    # Resampling adds noise, which biases distances up and complements down; the
    # interval keeps the bootstrap's width but is centred on the observed value.
    shift = value - float(np.mean(means))
    ci = (float(np.quantile(means, 0.025)) + shift, float(np.quantile(means, 0.975)) + shift)
    return MetricResult(value, ci, details={"columns": len(cols)}, breakdown=breakdown)


def _ks_exact(r: np.ndarray, s: np.ndarray) -> float:
    return float(1.0 - stats.ks_2samp(r, s).statistic)


def _wasserstein_exact(r: np.ndarray, s: np.ndarray) -> float:
    spread = float(r.std()) or 1.0
    return float(stats.wasserstein_distance(r, s) / spread)


# -- per-column metrics -------------------------------------------------------------------
@FIDELITY.metric(higher_is_better=True, bounds=(0, 1), ideal=1)
def ks_complement(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """1 - Kolmogorov-Smirnov statistic per numeric column (1 = identical distributions)."""
    return _per_column(real, synth, ctx, ("numeric",), exact=_ks_exact)


@FIDELITY.metric(higher_is_better=True, bounds=(0, 1), ideal=1)
def tv_complement(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """1 - total variation distance per categorical column (1 = identical frequencies)."""
    return _per_column(real, synth, ctx, ("categorical",), lambda p, q: 1 - _tv(p, q))


@FIDELITY.metric(higher_is_better=False, bounds=(0, 1), ideal=0)
def js_distance(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """Jensen-Shannon distance (base 2, in [0, 1]) per numeric (binned on real quantiles) and categorical column."""
    return _per_column(real, synth, ctx, ("numeric", "categorical"), _js)


@FIDELITY.metric(higher_is_better=False, bounds=(0, INF), ideal=0)
def kl_divergence(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """KL(real || synthetic) in nats with half-count smoothing, per numeric and categorical column."""
    return _per_column(real, synth, ctx, ("numeric", "categorical"), _kl)


@FIDELITY.metric(higher_is_better=False, bounds=(0, INF), ideal=0)
def wasserstein(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """Wasserstein-1 distance divided by the real column's standard deviation, per numeric column."""
    return _per_column(real, synth, ctx, ("numeric",), exact=_wasserstein_exact)


@FIDELITY.metric(higher_is_better=False, bounds=(0, 1), ideal=0)
def hellinger(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """Hellinger distance per numeric (binned) and categorical column."""
    return _per_column(real, synth, ctx, ("numeric", "categorical"), _hellinger)


@FIDELITY.metric(higher_is_better=True, bounds=(0, 1), ideal=1)
def list_length_similarity(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """1 - total variation between the list-length distributions, per list column."""
    return _per_column(real, synth, ctx, ("list",), lambda p, q: 1 - _tv(p, q), view=list_lengths)


@FIDELITY.metric(higher_is_better=True, bounds=(0, 1), ideal=1)
def list_item_similarity(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """1 - total variation between item frequencies (all items of all lists), per list column."""
    return _per_column(real, synth, ctx, ("list",), lambda p, q: 1 - _tv(p, q), view=_list_items)


# -- joint metrics ------------------------------------------------------------------------
@FIDELITY.metric(higher_is_better=True, bounds=(0, 1), ideal=1)
def correlation_similarity(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """1 - |r_real - r_synth| / 2 averaged over numeric column pairs (Pearson)."""
    r, s, cols = _canon(real, synth, ctx)
    nums = [c for c in cols if _kind(ctx.schema, c) == "numeric" and r[c].nunique() > 1]
    if len(nums) < 2:
        return MetricResult(float("nan"), details={"reason": "fewer than two numeric columns"})
    cr, cs = r[nums].corr().to_numpy(), s[nums].corr().to_numpy()
    breakdown = {}
    for i, j in itertools.combinations(range(len(nums)), 2):
        b = cs[i, j] if np.isfinite(cs[i, j]) else 0.0  # a constant synthetic column correlates with nothing
        breakdown[f"{nums[i]} | {nums[j]}"] = float(1 - abs(cr[i, j] - b) / 2)  # NaN: the real pair never co-occurs
    values = np.array([v for v in breakdown.values() if np.isfinite(v)])
    return MetricResult(
        float(values.mean()) if len(values) else float("nan"),
        mean_ci(values) if len(values) > 2 else None,
        details={"columns": nums, "real": cr.round(4).tolist(), "synthetic": np.nan_to_num(cs).round(4).tolist()},
        breakdown=breakdown,
    )


def _codes_for_pairs(r: pd.Series, s: pd.Series, kind: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Small integer codes (<= 22) shared by real and synthetic values of one column."""
    if kind == "list":  # by length (10 and longer together), then as categories
        r, s = list_lengths(r).clip(upper=10), list_lengths(s).clip(upper=10)
    elif kind == "numeric":
        rv, sv = r.to_numpy(dtype=float), s.to_numpy(dtype=float)
        ok = rv[~np.isnan(rv)]
        inner = np.unique(np.quantile(ok, np.linspace(0, 1, 11)))[1:-1] if len(ok) else np.array([])
        k = len(inner) + 2
        rc = np.where(np.isnan(rv), k - 1, np.searchsorted(inner, rv, side="right"))
        sc = np.where(np.isnan(sv), k - 1, np.searchsorted(inner, sv, side="right"))
        return rc, sc, k
    rvals = r.astype(object).where(r.notna(), "\x00nan")
    svals = s.astype(object).where(s.notna(), "\x00nan")
    top = pd.Index(rvals.value_counts().index[:20])
    k = len(top) + 1  # + "other"
    rc = top.get_indexer(rvals)
    sc = top.get_indexer(svals)
    return np.where(rc < 0, k - 1, rc), np.where(sc < 0, k - 1, sc), k


@FIDELITY.metric(higher_is_better=True, bounds=(0, 1), ideal=1)
def contingency_similarity(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """1 - total variation between the joint distributions of column pairs (numerics in
    deciles, categoricals as top 20 + other, lists by length), averaged over pairs."""
    max_pairs = int(ctx.params.get("max_pairs", 400))
    r, s, cols = _canon(real, synth, ctx)
    if len(cols) < 2:
        return MetricResult(float("nan"), details={"reason": "fewer than two columns"})
    codes = {c: _codes_for_pairs(r[c], s[c], _kind(ctx.schema, c)) for c in cols}
    pairs = list(itertools.combinations(cols, 2))
    if len(pairs) > max_pairs:
        pick = np.sort(ctx.rng.choice(len(pairs), size=max_pairs, replace=False))
        pairs = [pairs[i] for i in pick]
    breakdown = {}
    for a, b in pairs:
        ra, sa, ka = codes[a]
        rb, sb, kb = codes[b]
        jr = np.bincount(ra * kb + rb, minlength=ka * kb)
        js_ = np.bincount(sa * kb + sb, minlength=ka * kb)
        breakdown[f"{a} | {b}"] = 1 - _tv(jr, js_)
    values = np.array(list(breakdown.values()))
    return MetricResult(float(values.mean()), mean_ci(values), details={"pairs": len(pairs)}, breakdown=breakdown)


def _feature_schema(schema: Schema) -> Schema:
    """The schema with the label treated as an ordinary categorical column."""
    cols = tuple(dataclasses.replace(c, kind="categorical") if c.kind == "target" else c for c in schema.columns)
    return dataclasses.replace(schema, columns=cols, target=None)


def _detection_sets(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[str]]:
    schema, rng, max_rows = ctx.schema, ctx.rng, ctx.max_rows

    def compute() -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[str]]:
        cols = compared_columns(schema, [real, synth])
        n = min(len(real), len(synth), max_rows)
        r = subsample_rows(real, n, rng)
        s = subsample_rows(synth, n, rng)
        both = pd.concat([r[cols], s[cols]], ignore_index=True)
        y = np.r_[np.zeros(len(r), int), np.ones(len(s), int)]
        folds = _detection_folds(r, s, cols, schema, rng)
        return both, y, folds, cols

    return cached(ctx.cache, ("detection:sets", max_rows), compute)


DETECTION_FOLDS = 3


def _detection_folds(r: pd.DataFrame, s: pd.DataFrame, cols: list[str], schema: Schema, rng: np.random.Generator) -> np.ndarray:
    """Cross-validation folds of the real rows, then the synthetic rows, that no user straddles.

    Real rows are grouped by user: with one user's rows on both sides of a fold the
    classifier learns users, not realism, and fresh rows of unseen users look
    synthetic (AUC 0.7-0.9 where 0.5 is right). Synthetic rows that carry a user
    column (the holdout reference, resampled training rows) are grouped by it too,
    sharing the fold of any real row of the same user; the others take the fold of
    their nearest real row, so a copy, or a near-copy, sits in its original's fold.
    """
    user = schema.user_column
    k = DETECTION_FOLDS
    shares = (1 / k,) * k
    real_groups = r[user].to_numpy() if user and user in r.columns else np.arange(len(r))
    real_folds = assign_splits(np.zeros(len(r)), shares, groups=real_groups, random_state=rng)
    if user and user in s.columns:
        by_user = dict(zip(real_groups.tolist(), real_folds.tolist()))
        synth_groups = s[user].to_numpy()
        fresh = np.array([g not in by_user for g in synth_groups.tolist()], dtype=bool)
        synth_folds = np.empty(len(s), dtype=np.int64)
        synth_folds[~fresh] = [by_user[g] for g in synth_groups[~fresh].tolist()]
        if fresh.any():
            synth_folds[fresh] = assign_splits(np.zeros(int(fresh.sum())), shares, groups=synth_groups[fresh], random_state=rng)
        return np.r_[real_folds, synth_folds]
    space = MixedSpace(_feature_schema(schema).select(cols), cols).fit(r[cols])
    nearest = space.knn(space.prepare(s[cols]), space.prepare(r[cols]), 1)[1][:, 0]
    return np.r_[real_folds, real_folds[nearest]]


def _detection_scores(kind: str, real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold probabilities that a row is synthetic. Encodings (category
    vocabularies, spreads, list items) are fitted on each fold's training rows, of
    both classes: fitted on the real rows they would leave the real rows' rare values
    in-vocabulary and the others' out, a label leak."""
    schema, rng, max_rows = ctx.schema, ctx.rng, ctx.max_rows

    def compute() -> tuple[np.ndarray, np.ndarray]:
        both, y, folds, cols = _detection_sets(real, synth, ctx)
        fschema = _feature_schema(schema).select(cols)
        oof = np.zeros(len(y))
        if kind == "logistic":
            from sklearn.linear_model import LogisticRegression

            for k in range(DETECTION_FOLDS):
                tr, te = folds != k, folds == k
                space = MixedSpace(fschema, cols).fit(both[tr])
                model = LogisticRegression(max_iter=300, C=1.0).fit(space.prepare(both[tr]).embedding, y[tr])
                oof[te] = model.predict_proba(space.prepare(both[te]).embedding)[:, 1]
        else:
            from xgboost import XGBClassifier

            from clicksynth.metrics.models import CTRFeaturizer

            for k in range(DETECTION_FOLDS):
                tr, te = folds != k, folds == k
                feat = CTRFeaturizer(fschema).fit(both[tr])
                X_tr, X_te = feat.transform(both[tr]), feat.transform(both[te])
                model = XGBClassifier(
                    n_estimators=150,
                    max_depth=5,
                    learning_rate=0.1,
                    tree_method="hist",
                    enable_categorical=True,
                    max_cat_to_onehot=4,
                    n_jobs=2,
                    random_state=int_seed(rng),
                    verbosity=0,
                )
                model.fit(X_tr, y[tr])
                oof[te] = model.predict_proba(X_te)[:, 1]
        return y, oof

    return cached(ctx.cache, ("detection:scores", kind, max_rows), compute)


def _detection(kind: str, real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    y, oof = _detection_scores(kind, real, synth, ctx)
    auc, ci = auc_with_ci(y, oof)
    return MetricResult(
        auc,
        ci,
        details={"rows_per_class": int((y == 0).sum()), "folds": DETECTION_FOLDS, "folds_grouped_by": ctx.schema.user_column or "row"},
    )


@FIDELITY.metric(higher_is_better=False, bounds=(0, 1), ideal=0.5)
def detection_logistic(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """Cross-validated ROC-AUC of a logistic real-vs-synthetic classifier (0.5 = indistinguishable)."""
    return _detection("logistic", real, synth, ctx)


@FIDELITY.metric(higher_is_better=False, bounds=(0, 1), ideal=0.5)
def detection_xgboost(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """Cross-validated ROC-AUC of a gradient-boosted real-vs-synthetic classifier (0.5 = indistinguishable)."""
    return _detection("xgboost", real, synth, ctx)


@FIDELITY.metric(higher_is_better=False, bounds=(0, 0.25), ideal=0)
def pmse(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """Propensity mean squared error of the logistic discriminator (0 = indistinguishable, 0.25 = separable)."""
    y, oof = _detection_scores("logistic", real, synth, ctx)
    c = y.mean()
    sq = (oof - c) ** 2
    return MetricResult(float(sq.mean()), mean_ci(sq), details={"c": float(c)})


# -- precision / recall / density / coverage ---------------------------------------------
PRDC_K = 5
PRDC_ROWS = 5_000  # k-NN manifolds need all-pairs-like work: half the usual row cap


def _prdc(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> dict[str, np.ndarray] | None:
    """Per-row indicators of the four PRDC metrics; None when a side has no k-th neighbour.
    Neighbours are searched among the 32 nearest rows: a row inside more than 32 balls
    counts 32 (density at most 32 / k)."""
    schema, rng = ctx.schema, ctx.rng
    max_rows = min(ctx.max_rows, PRDC_ROWS)

    def compute() -> dict[str, np.ndarray] | None:
        cols = compared_columns(schema, [real, synth])
        r = subsample_rows(real[cols], max_rows, rng)
        s = subsample_rows(synth[cols], max_rows, rng)
        if min(len(r), len(s)) <= PRDC_K:
            return None
        space = MixedSpace(schema, cols).fit(r)
        pr, ps = space.prepare(r), space.prepare(s)
        k = PRDC_K
        rad_r = space.knn(pr, pr, k + 1, candidates=32)[0][:, k]
        rad_s = space.knn(ps, ps, k + 1, candidates=32)[0][:, k]
        d_sr, i_sr = space.knn(ps, pr, 32, candidates=32)
        d_rs, i_rs = space.knn(pr, ps, 32, candidates=32)
        inside = d_sr <= rad_r[i_sr]
        precision = inside.any(axis=1)
        density = inside.sum(axis=1) / k
        recall = (d_rs <= rad_s[i_rs]).any(axis=1)
        coverage = d_rs[:, 0] <= rad_r
        return {"precision": precision, "density": density, "recall": recall, "coverage": coverage}

    return cached(ctx.cache, ("prdc", max_rows), compute)


def _prdc_metric(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext, part: str) -> MetricResult:
    parts = _prdc(real, synth, ctx)
    if parts is None:
        return MetricResult(float("nan"), details={"reason": f"fewer than {PRDC_K + 1} rows on a side: no k-th neighbour"})
    x = parts[part]
    if part == "density":
        return MetricResult(float(x.mean()), mean_ci(x), details={"k": PRDC_K})
    return MetricResult(float(x.mean()), wilson_ci(float(x.sum()), len(x)), details={"n": len(x), "k": PRDC_K})


@FIDELITY.metric(higher_is_better=True, bounds=(0, 1), ideal=1)
def prdc_precision(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """Share of synthetic rows inside the real rows' k-NN manifold (Kynkaanniemi et al. 2019)."""
    return _prdc_metric(real, synth, ctx, "precision")


@FIDELITY.metric(higher_is_better=True, bounds=(0, 1), ideal=1)
def prdc_recall(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """Share of real rows inside the synthetic rows' k-NN manifold (Kynkaanniemi et al. 2019)."""
    return _prdc_metric(real, synth, ctx, "recall")


@FIDELITY.metric(higher_is_better=None, bounds=(0, INF), ideal=1)
def prdc_density(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """Mean number of real k-NN balls holding a synthetic row, over k (Naeem et al. 2020; 1 = as dense as real)."""
    return _prdc_metric(real, synth, ctx, "density")


@FIDELITY.metric(higher_is_better=True, bounds=(0, 1), ideal=1)
def prdc_coverage(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """Share of real rows whose k-NN ball holds a synthetic row (Naeem et al. 2020)."""
    return _prdc_metric(real, synth, ctx, "coverage")


# -- what models learn --------------------------------------------------------------------
def _spearman_ci(rho: float, n: int) -> tuple[float, float] | None:
    if n <= 3 or not np.isfinite(rho):
        return None
    z = np.arctanh(np.clip(rho, -0.999999, 0.999999))
    half = Z95 / np.sqrt(n - 3)
    # at |rho| = 1 the clipped z's interval stops just short of rho itself
    return (min(float(np.tanh(z - half)), rho), max(float(np.tanh(z + half)), rho))


@FIDELITY.metric(higher_is_better=True, bounds=(-1, 1), ideal=1)
def importance_agreement(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """Spearman correlation between the column importances of a CTR model trained on real
    rows and one trained on synthetic rows (1 = same ranking)."""
    from clicksynth.metrics.utility import fitted_model

    m_real = fitted_model("real", real, synth, ctx)
    m_syn = fitted_model("synthetic", real, synth, ctx)
    a, b = m_real.feature_importances(), m_syn.feature_importances()
    cols = sorted(a.index)  # the two models share the featuriser fitted on the real rows: the same columns
    va, vb = a[cols], b[cols]
    rho = float(stats.spearmanr(va, vb).statistic) if len(cols) > 2 else float("nan")
    top = lambda s: s.sort_values(ascending=False).head(10).round(4).to_dict()
    return MetricResult(
        rho,
        _spearman_ci(rho, len(cols)),
        details={"real": top(va), "synthetic": top(vb), "columns": len(cols)},
        breakdown={c: float(vb[c] - va[c]) for c in cols},
    )


@FIDELITY.metric(higher_is_better=True, bounds=(-1, 1), ideal=1)
def lasso_agreement(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """Agreement of L1-logistic click models fitted on real vs synthetic rows (the studies'
    "Lasso relationship preservation"): Spearman correlation of their coefficients on a
    shared design; details hold the Jaccard overlap of selected features and sign agreement."""
    from sklearn.linear_model import LogisticRegression

    target = ctx.schema.target
    if target is None:
        return MetricResult(float("nan"), details={"reason": "no target"})
    max_rows = ctx.max_rows
    cols = [c for c in compared_columns(ctx.schema, [real, synth]) if c != target]
    r = subsample_rows(real, max_rows, ctx.rng)
    s = subsample_rows(synth, max_rows, ctx.rng)
    space = cached(ctx.cache, ("lasso:space", max_rows), lambda: MixedSpace(ctx.schema, cols).fit(r), shared=True)
    Xr, Xs = space.prepare(r).embedding, space.prepare(s).embedding
    mu, sd = Xr.mean(axis=0), Xr.std(axis=0) + 1e-6
    yr = (r[target] == ctx.schema.positive_label).to_numpy().astype(int)
    ys = (s[target] == ctx.schema.positive_label).to_numpy().astype(int)
    if len(np.unique(ys)) < 2:
        return MetricResult(float("nan"), details={"reason": "synthetic rows hold a single class"})
    fit = lambda X, y: (
        LogisticRegression(l1_ratio=1.0, solver="liblinear", C=0.05, max_iter=500, random_state=0).fit((X - mu) / sd, y).coef_.ravel()
    )
    cr = cached(ctx.cache, ("lasso:real", max_rows), lambda: fit(Xr, yr), shared=True)
    rho, details = _coefficient_agreement(cr, fit(Xs, ys))
    return MetricResult(rho, _spearman_ci(rho, len(cr)), details={**details, "rows": [len(r), len(s)]})


def _coefficient_agreement(cr: np.ndarray, cs: np.ndarray) -> tuple[float, dict[str, float]]:
    """Spearman's rho of two coefficient vectors (0 where either is constant: no ranking), the
    Jaccard overlap of their non-zero entries (1 where neither selects any) and the share of
    the entries both select that agree in sign (NaN where they share none)."""
    sel_r, sel_s = cr != 0, cs != 0
    both, union = sel_r & sel_s, (sel_r | sel_s).sum()
    rho = float(stats.spearmanr(cr, cs).statistic) if np.std(cr) > 0 and np.std(cs) > 0 else 0.0
    return rho, {
        "jaccard_selected": float(both.sum() / union) if union else 1.0,
        "sign_agreement": float(np.mean(np.sign(cr[both]) == np.sign(cs[both]))) if both.any() else float("nan"),
        "selected_real": int(sel_r.sum()),
        "selected_synthetic": int(sel_s.sum()),
    }
