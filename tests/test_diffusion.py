"""Diffusion (masked and multinomial): the quantile map, the losses against hand-written
formulas, conditioning, reachability of every category, divergence and parameters."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from clicksynth import get_generator  # noqa: E402
from clicksynth.exceptions import ConfigError, TrainingError  # noqa: E402
from clicksynth.generators.neural.diffusion import Denoiser, Diffusion, _alpha, _gaussian_step, _multinomial_kl, _Scores  # noqa: E402

TINY = {"layers": (32,), "embed": 4, "batch_size": 128, "ema": 0.0}  # short fits: the raw weights


def _dependent(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Clicks mostly in slot 1, non-clicks mostly elsewhere; column b copies a; one number."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    slot = np.where(y == 1, np.where(rng.random(n) < 0.9, 1, 2), rng.integers(2, 6, n))
    a = rng.integers(0, 8, n)
    X = pd.DataFrame({"slot": slot, "a": a, "b": a * 10, "size": np.round(rng.gamma(2, 3, n), 2)})
    return X, y


def test_scores_decode_to_training_values_with_ties_sharing_a_score():
    rng = np.random.default_rng(0)
    x = np.array([3.0, 1.0, 1.0, 1.0, 7.5, 2.0, 2.0, 9.0])
    sc = _Scores.fit(x, rng)
    z = sc.encode(x)
    assert z[1] == z[2] == z[3] and z[5] == z[6]  # ties: one score
    assert np.array_equal(sc.decode(z), x)  # every training value comes back exactly
    assert np.all(np.diff(sc.encode(np.sort(np.unique(x)))) > 0)  # monotone
    grid = sc.decode(np.linspace(-8, 8, 1001))
    assert set(grid) <= set(x) and set(grid) == set(x)  # only real values, all of them reachable
    # mid-ranks: value 1.0 holds ranks 0..3 of 8, its quantile is 1.5 / 8
    assert z[1] == pytest.approx(float(__import__("scipy").special.ndtri(1.5 / 8)), abs=1e-6)


def test_schedule_ends_and_gaussian_step_to_zero_returns_the_prediction():
    assert float(_alpha(torch.tensor(0.0))) == pytest.approx(1.0)
    assert float(_alpha(torch.tensor(1.0))) == pytest.approx(0.0, abs=1e-6)
    a = _alpha(torch.linspace(0, 1, 50))
    assert torch.all(a[1:] <= a[:-1])
    # v-parameterisation: with v = alpha eps - sigma x0 exact, one step to s = 0 recovers x0
    x0, eps, t = torch.tensor([[0.3, -1.2]]), torch.tensor([[1.0, 0.5]]), 0.6
    at = float(_alpha(torch.tensor(t)))
    st = math.sqrt(1 - at**2)
    x = at * x0 + st * eps
    v = at * eps - st * x0
    torch.testing.assert_close(_gaussian_step(x, v, t, 0.0, torch.Generator()), x0)
    # a step to s > 0 has the DDPM posterior mean: a_s x0 + sqrt(sigma_s^2 - var) eps + noise of variance var
    s = 0.3
    draws = torch.stack([_gaussian_step(x, v, t, s, torch.Generator().manual_seed(i)) for i in range(4000)])
    a_s = float(_alpha(torch.tensor(s)))
    s_s = math.sqrt(1 - a_s**2)
    var = (s_s**2 / st**2) * (1 - at**2 / a_s**2)
    mean = a_s * x0 + math.sqrt(s_s**2 - var) * eps
    torch.testing.assert_close(draws.mean(0), mean, atol=0.03, rtol=0)
    assert float(draws.var(0).mean()) == pytest.approx(var, rel=0.1)


def _posterior(K: int, x_cond: np.ndarray, xt: int, abar_t: float, abar_s: float) -> np.ndarray:
    """Hoogeboom et al. eq. 13 in probabilities, x_cond a distribution over the K categories."""
    a = abar_t / abar_s
    f1 = np.full(K, (1 - a) / K)
    f1[xt] += a
    theta = f1 * (abar_s * x_cond + (1 - abar_s) / K)
    return theta / theta.sum()


def test_multinomial_kl_equals_the_posteriors_kl_and_the_decoder_term_at_the_first_step():
    torch.manual_seed(0)
    K = [3, 5]
    B, W = 4, 5
    logits = torch.randn(B, 2, W)
    valid = torch.tensor([[True] * 3 + [False] * 2, [True] * 5])
    logits = logits.masked_fill(~valid, -1e4)
    k = torch.tensor(K)
    x0 = torch.tensor([[0, 4], [2, 1], [1, 0], [2, 3]])
    xt = torch.tensor([[1, 4], [2, 0], [0, 2], [2, 3]])
    abar_t = torch.tensor([0.5, 0.2, 0.9, 0.05])
    abar_s = torch.tensor([0.6, 0.3, 1.0, 0.07])  # row 2: s = 0, the decoder term
    got = _multinomial_kl(logits, valid, k, x0, xt, abar_t, abar_s)
    for b in range(B):
        for c, Kc in enumerate(K):
            p0 = torch.softmax(logits[b, c, :Kc], -1).double().numpy()
            onehot = np.eye(Kc)[int(x0[b, c])]
            q = _posterior(Kc, onehot, int(xt[b, c]), float(abar_t[b]), float(abar_s[b]))
            p = _posterior(Kc, p0, int(xt[b, c]), float(abar_t[b]), float(abar_s[b]))
            want = float(np.sum(np.where(q > 0, q * (np.log(np.maximum(q, 1e-300)) - np.log(p)), 0)))
            if b == 2:  # q is x0 itself: the KL is -log p(x0 | x_t)
                assert want == pytest.approx(-math.log(p[int(x0[b, c])]), rel=1e-6)
            assert float(got[b, c]) == pytest.approx(want, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize(("t", "s", "guidance"), [(0.6, 0.3, 0.0), (0.2, 0.0, 0.0), (0.9, 0.5, 1.5)])
def test_a_multinomial_step_draws_from_the_posterior(t, s, guidance):
    """One reverse step's categories, drawn many times from one state, have the frequencies of
    eq. 13 with the predicted distribution (guided where asked): a small padded group, a large
    column alone."""
    torch.manual_seed(2)
    vocab = [3, 70, 5]
    net = Denoiser(vocab, 0, False, 4, (8,), 0.0).eval()
    gen = Diffusion(categorical="multinomial", guidance=guidance, label_dropout=0.2 if guidance else 0.0)
    B = 40_000
    h, hu = torch.randn(1, 8), torch.randn(1, 8)
    xt = torch.tensor([[2, 41, 0]])
    with torch.no_grad():
        out = gen._multinomial_step(
            net, h.expand(B, -1), hu.expand(B, -1) if guidance else None, xt.expand(B, -1), t, s, torch.Generator().manual_seed(0)
        )
        abar_t = float(_alpha(torch.tensor(t))) ** 2
        abar_s = 1.0 if s == 0 else float(_alpha(torch.tensor(s))) ** 2
        for j, K in enumerate(vocab):
            logp = torch.log_softmax(net.logits(h, j)[0], -1)
            if guidance:
                logp = logp + guidance * (logp - torch.log_softmax(net.logits(hu, j)[0], -1))
            want = _posterior(K, torch.softmax(logp, -1).double().numpy(), int(xt[0, j]), abar_t, abar_s)
            got = np.bincount(out[:, j].numpy(), minlength=K) / B
            assert len(got) == K  # no draw outside the column's categories
            np.testing.assert_allclose(got, want, atol=0.01)


def test_masked_loss_is_the_weighted_cross_entropy_of_the_masked_columns():
    torch.manual_seed(1)
    gen = Diffusion(**TINY)
    gen.vocab_, gen.scores_ = [3, 70, 2], [object()]
    net = Denoiser(gen.vocab_, 1, True, 4, (8, 6), 0.0).eval()
    B = 6
    codes = torch.stack([torch.randint(0, k, (B,)) for k in gen.vocab_], dim=1)
    nums, labels = torch.randn(B, 1), torch.randint(0, 2, (B,))
    noise = {"t": torch.rand(B).clamp(min=0.05), "u": torch.rand(B, 3), "uniform": torch.rand(B, 3), "eps": torch.randn(B, 1)}
    with torch.no_grad():
        got = gen._loss(net, codes, nums, labels, noise)
        for b in range(B):
            t = noise["t"][b]
            a = float(_alpha(t))
            sg = math.sqrt(1 - a**2)
            masked = noise["u"][b] < t
            tok = torch.tensor([int(net.total + j) if masked[j] else int(codes[b, j] + net.offsets[j]) for j in range(3)])
            x = a * nums[b] + sg * noise["eps"][b]
            h = net.hidden(tok[None], x[None], t[None], labels[b : b + 1])
            want = float(((net.velocity(h)[0] - (a * noise["eps"][b] - sg * nums[b])) ** 2).sum())
            for j in range(3):
                if masked[j]:
                    want -= float(torch.log_softmax(net.logits(h, j)[0], -1)[codes[b, j]]) / float(t)
            assert float(got[b]) == pytest.approx(want / 4, rel=1e-5)


@pytest.mark.parametrize("categorical", ["masked", "multinomial"])
def test_label_conditions_the_rows_and_counts_are_exact(categorical):
    X, y = _dependent(3000)
    gen = get_generator("diffusion", categorical=categorical, epochs=25, lr=3e-3, steps=10, timesteps=20, random_state=0, **TINY)
    gen.fit(X, y)
    out = gen.sample({1: 1500, 0: 500}, random_state=0)
    assert (out["label"] == 1).sum() == 1500 and (out["label"] == 0).sum() == 500
    clicks, non = out[out["label"] == 1], out[out["label"] == 0]
    assert (clicks["slot"] == 1).mean() > 0.6 and (non["slot"] == 1).mean() < 0.2  # 0.9 and 0 in the data
    assert set(out["size"]) <= set(X["size"]) and out.notna().all().all()
    assert (out["b"] == out["a"] * 10).mean() > 0.5  # the pair is learned, not drawn independently (1/8 by chance)


def test_every_category_is_reachable_including_pooled_rare_ones():
    rng = np.random.default_rng(0)
    n = 2000
    X = pd.DataFrame({"ad": np.r_[rng.integers(0, 300, n - 4), [900, 901, 902, 903]].astype(str), "a": rng.integers(0, 3, n)})
    y = (rng.random(n) < 0.3).astype(int)
    for categorical in ("masked", "multinomial"):
        gen = get_generator("diffusion", categorical=categorical, epochs=1, steps=4, timesteps=4, random_state=0, **TINY).fit(X, y)
        out = gen.sample(60_000, random_state=1)
        assert set(out["ad"]) == set(X["ad"]), categorical  # every value, the four seen once included


def test_guidance_sharpens_the_label_signal():
    X, y = _dependent(3000)
    gen = get_generator("diffusion", epochs=12, lr=3e-3, steps=8, label_dropout=0.3, random_state=0, **TINY).fit(X, y)
    plain = (gen.sample({1: 3000}, random_state=0)["slot"] == 1).mean()
    gen.guidance = 3.0
    guided = (gen.sample({1: 3000}, random_state=0)["slot"] == 1).mean()
    assert guided > plain


def test_the_moving_average_of_the_weights_is_the_model_sampled():
    """With a decay near 1 the average stays at the initial weights: the label signal the raw
    weights learned is absent from the rows."""
    X, y = _dependent(3000)
    share = {}
    for ema in (0.0, 0.999999):
        gen = get_generator("diffusion", epochs=10, lr=3e-3, steps=8, random_state=0, **{**TINY, "ema": ema}).fit(X, y)
        share[ema] = (gen.sample({1: 2000}, random_state=0)["slot"] == 1).mean()
    assert share[0.0] > 0.6 and share[0.999999] < 0.4


def test_bad_parameters_and_divergence():
    X, y = _dependent(400)
    for bad, match in [
        ({"categorical": "gaussian"}, "categorical"),
        ({"categorical": "multinomial", "timesteps": 10, "steps": 20}, "at most"),
        ({"guidance": 1.0, "label_dropout": 0.0}, "unconditional"),
        ({"steps": 0}, "steps"),
        ({"layers": ()}, "layers"),
        ({"ema": 1.0}, "ema"),
        ({"device": "tpu9"}, "device"),
    ]:
        with pytest.raises(ConfigError, match=match):
            get_generator("diffusion", epochs=1, **bad).fit(X, y)
    for categorical in ("masked", "multinomial"):
        with pytest.raises(TrainingError, match="diverged at epoch"):
            get_generator("diffusion", categorical=categorical, epochs=3, lr=1e9, random_state=0, **TINY).fit(X, y)


def test_early_stopping_keeps_the_best_epoch():
    X, y = _dependent(600)
    gen = get_generator("diffusion", epochs=80, patience=2, lr=1e-2, random_state=0, **TINY).fit(X, y)
    val = [h["validation_loss"] for h in gen.history_]
    assert len(val) < 80
    assert gen.best_epoch_ == int(np.argmin(val)) + 1 and len(val) == gen.best_epoch_ + 2
