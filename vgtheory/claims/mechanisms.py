"""Registered claims: mechanisms — remedies and pitfalls (S8–S13, S16; L6, L9, L10).

Monte Carlo rows: one network/circuit draw is one sample, float32 at precision "highest".
Exact identities run in float64 when ``jax_enable_x64`` is on (the CLI and tests set it),
with ``rtol`` from the dtype.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import theory as _theory  # noqa: F401  (package import keeps vg.theory complete)
from .._activations import activation
from .._attention import attention_block, rank_one_residual
from .._claims import Comparison, claim
from .._euler import euler_errors
from .._losses import autodiff_logit_grad, logit_grad
from .._mlp import MLP, mlp_apply
from .._norm import norm_mlp_apply, norm_mlp_gradient_flow
from .._quantum import random_circuit_gradients
from .._residual import init_resnet, residual_branch, stack_tangent_flow
from .._stats import estimate, ratio_estimate, variance_estimate
from .._underflow import DTYPES, underflow_step
from ..theory import _mechanisms as th

SEED_0 = "seeds/000 (梯度消失: 解决方案与缓解策略)"
SEED_1 = "seeds/001 (梯度消失的解决方案)"
SEED_2 = "seeds/002 (从悄声到寂静: 下溢; 时空回响)"
HI = jax.lax.Precision.HIGHEST


def _f64():
    return jnp.float64 if jax.config.jax_enable_x64 else jnp.float32


def _rtol(dt):
    return 1e-10 if jnp.dtype(dt) == jnp.float64 else 2e-5


def _np(x):
    return np.asarray(x, np.float64)


def _rbg(key, salt: int = 0):
    """An RngBitGenerator ("rbg") key derived deterministically from ``key``.

    Generating large arrays from threefry keys inside ``jit`` costs ≈ 2.5 s of XLA compile
    on CPU per call site; XLA's native bit generator compiles in ≈ 0.1 s. Member keys are
    still split from the claim's key with threefry (outside, small), so draws stay
    independent and reproducible from the seed.
    """
    kd = jax.random.key_data(key).ravel().astype(jnp.uint32)
    mix = jnp.asarray([0x9E3779B9, 0x85EBCA6B], jnp.uint32) + jnp.uint32(salt)
    return jax.random.wrap_key_data(jnp.concatenate([kd, kd ^ mix]), impl="rbg")


# ----------------------------------------------------------------------------- S8
def _s8_draw(key, act, widths, q0, alpha, batch):
    """Per-unit forward E h² and backward E δ² at the input and output of one network.

    One ``jax.random.normal`` call per draw (sliced), which keeps the compiled graph small."""
    sizes = [batch * widths[0]] + [widths[l] * widths[l - 1] for l in range(1, len(widths))] + [batch * widths[-1]]
    z = jax.random.normal(_rbg(key), (sum(sizes),))
    offs = np.cumsum([0] + sizes)
    part = lambda i, shape: z[offs[i]:offs[i + 1]].reshape(shape)
    h0 = math.sqrt(q0) * part(0, (batch, widths[0]))
    ws = [part(l, (widths[l], widths[l - 1])) / math.sqrt(widths[l - 1] * alpha) for l in range(1, len(widths))]
    g = part(len(widths), (batch, widths[-1]))

    def forward(h0):
        h = h0
        for w in ws:
            h = jnp.matmul(act.fn(h), w.T, precision=HI)
        return h

    hL, vjp = jax.vjp(forward, h0)
    d0 = vjp(g)[0]
    return (jnp.mean(hL**2), jnp.mean(h0**2), jnp.mean(d0**2), jnp.mean(g**2))


@claim(id="S8", area="mechanisms", title="Forward and backward variance both kept iff n_l/n_{l−1} = α/β",
       statement="Keeping both the forward (activation) and backward (gradient) variance needs a width "
                 "ratio n_l/n_{l−1} = α/β with α, β fixed by the activation (α = E φ(h)²/q, β = E φ'(h)²).",
       source=SEED_0 + "; Glorot & Bengio 2010 §4.2.1")
def s8(key, full):
    L, n0, m, batch = 6, (1024 if full else 512), (96 if full else 24), 16
    rows = []
    for name, k in (("tanh", 0), ("erf", 1)):
        act = activation(name)
        wr = th.width_ratio(act, 1.0)
        widths = [max(2, round(n0 * wr.ratio**l)) for l in range(L + 1)]
        draw = jax.jit(jax.vmap(lambda kk: _s8_draw(kk, act, widths, 1.0, wr.alpha, batch)))
        fL, f0, bL0, bLL = (_np(x) for x in draw(jax.random.split(jax.random.fold_in(key, k), m)))
        fwd, bwd = ratio_estimate(fL, f0), ratio_estimate(bL0, bLL)
        # the realised widths are rounded; predict with them (exactly 1 for the ideal ratio)
        pb = math.prod(widths[l] * wr.beta / (widths[l - 1] * wr.alpha) for l in range(1, L + 1))
        bias = 2.0 * L / min(widths)
        note = (f"α={wr.alpha:.4f}, β={wr.beta:.4f}, widths {widths}; bias: O(1/n) finite-width "
                f"corrections, 2L/n_min relative")
        rows += [
            Comparison(f"{name}: forward E h_L²/E h_0² with v_l = 1/(n_(l−1) α)", 1.0, fwd.mean, fwd.se, m,
                       wr.alpha**L, bias=bias, note=note + "; planted: v = 1/n_(l−1) (α^L)"),
            Comparison(f"{name}: backward E δ_0²/E δ_L² (per unit) at n_l/n_(l−1) = α/β", pb, bwd.mean,
                       bwd.se, m, (wr.beta / wr.alpha) ** L, bias=bias * pb,
                       note=note + "; planted: equal widths ((β/α)^L)"),
        ]
    return rows


# ----------------------------------------------------------------------------- S9
def _s9_gains(key, n, L, skips, alphas):
    """log ‖J v‖²/‖v‖² at depth L for blocks s·x + α·F(x), one scan for all (s, α) pairs
    (s = 1: residual, s = 0: plain stack of the same F), all on the same weight draw."""
    p = init_resnet(_rbg(key), n, L)
    xv = jax.random.normal(_rbg(key, 1), (2, n))

    def gain(s, a):
        block = lambda w, z: s * z + a * residual_branch(w[0], w[1], z)
        return stack_tangent_flow(block, (p.w1, p.w2), xv[0], xv[1])[-1]

    return jax.vmap(gain)(jnp.asarray(skips, jnp.float32), jnp.asarray(alphas, jnp.float32))


@claim(id="S9", area="mechanisms", title="Residual blocks keep gradients alive at depth 152",
       statement="With residual blocks x_l = x_{l−1} + F(x_{l−1}) (F = layer → ReLU → layer) the block "
                 "Jacobian is I + ∂F/∂x, so the gradient reaches the first layer of a 152-block network "
                 "without vanishing. Closed form (derived): E‖∂L/∂x₀‖²/‖∂L/∂x_L‖² = (1 + α²)^L for "
                 "x + αF(x), W₁ ~ N(0, 2/n), W₂ ~ N(0, 1/n): α = 1/√L → (1+1/L)^L ≈ e; α = 1 → 2^L "
                 "(it explodes instead); the plain stack of the same F keeps the mean at 1.",
       source=SEED_0 + "; " + SEED_1 + " (ResNet-152)")
def s9(key, full):
    # the closed forms are exact at any width; width only sets the log-spread (∝ L/n), so the
    # deep rows use n = 32 (spread ≈ 4/n for α = 1/√L) and the L = 10 rows n = 64
    n, L, Ls, m = (128 if full else 32), 152, 10, (1024 if full else 96)
    ns, ms = (128 if full else 64), (2048 if full else 160)
    k1, k2 = jax.random.split(key)
    a = 1.0 / math.sqrt(L)
    deep = _np(jax.jit(jax.vmap(lambda k: _s9_gains(k, n, L, (1, 1), (a, 1))))(jax.random.split(k1, m)))
    shallow = _np(jax.jit(jax.vmap(lambda k: _s9_gains(k, ns, Ls, (1, 0), (1, 1))))(jax.random.split(k2, ms)))
    e_small, e_log = estimate(np.exp(deep[:, 0])), estimate(deep[:, 1])
    e_res, e_plain = estimate(np.exp(shallow[:, 0])), estimate(np.exp(shallow[:, 1]))
    return [
        Comparison(f"residual α=1/√L, L={L}, n={n}: E‖g₀‖²/‖g_L‖²", th.residual_gain(a, L), e_small.mean,
                   e_small.se, m, 1.0, note="exact at any width (no bias); planted: 1 (identity path only, "
                                            "'no attenuation, no growth')"),
        Comparison(f"residual α=1, L={Ls}, n={ns}: E‖g₀‖²/‖g_L‖² = 2^L", th.residual_gain(1.0, Ls), e_res.mean,
                   e_res.se, ms, th.residual_gain(1.0, Ls + 1), note="exact; planted: 2^(L+1)"),
        Comparison(f"plain (no skip) same F, L={Ls}: E‖g₀‖²/‖g_L‖² = 1 (He-critical)", 1.0, e_plain.mean,
                   e_plain.se, ms, 2.0**-Ls, note="exact; planted: 2^(−L) ('ReLU halves the gradient per block'); "
                        f"typical value E log = {float(np.mean(shallow[:, 1])):.3f}"),
        Comparison(f"residual α=1, L={L}: typical gain E log(‖g₀‖²/‖g_L‖²) ≥ 0 (no vanishing)", 0.0,
                   e_log.mean, e_log.se, m, L * math.log(2.0), kind="lower",
                   note="planted lower bound: L·log 2 = log of the mean gain (Jensen: the typical gain "
                        "is smaller)"),
    ]


# ----------------------------------------------------------------------------- S10
def _mlp_and_inputs(key, n, L, sigma_w2, extra):
    """A bias-free stacked MLP (W entries N(0, σ_w²/n)) and ``extra`` Gaussian [n]-rows, from
    one ``jax.random.normal`` call (what ``init_mlp(init="gaussian", sigma_b2=0)`` draws)."""
    z = jax.random.normal(_rbg(key), (L * n * n + extra * n,))
    w = math.sqrt(sigma_w2 / n) * z[: L * n * n].reshape(L, n, n)
    return MLP(w, jnp.zeros((L, n), w.dtype)), z[L * n * n:].reshape(extra, n)


def _s10_draw(key, act, n, B, L, sigma_w2, norm):
    p, x = _mlp_and_inputs(key, n, L, sigma_w2, B)
    pre = norm_mlp_apply(p, x, act, norm=norm, eps=0.0).preacts
    return jnp.mean(act.deriv(pre[L // 2:]))


@claim(id="S10", area="mechanisms", title="BatchNorm/LayerNorm keep pre-activations out of saturation",
       statement="BN (and LN) normalise each pre-activation to mean 0, variance 1, pulling it back into "
                 "the non-saturating range of sigmoid/tanh, so φ'(a) stays large.",
       source=SEED_0 + " (规范化层); " + SEED_1)
def s10(key, full):
    act = activation("tanh")
    n, B, L, m, sw2 = (512 if full else 128), (256 if full else 64), 12, (32 if full else 8), 16.0
    from ..theory._meanfield import qstar

    q = float(qstar(act, sw2, 0.0))
    mf = th.saturation_derivative(act, q)
    f = lambda t: act.deriv(t)
    ln_pred, bn_pred = th.standardized_expectation(f, n), th.standardized_expectation(f, B)
    rows = []
    for i, (norm, pred, planted, bias, note) in enumerate((
            ("none", mf, ln_pred, 2.0 / n, f"mean field E sech²(√q* z), q* = {q:.3f}; bias O(1/n)"),
            ("layer", ln_pred, mf, 0.0, "exact: LN of i.i.d. Gaussian W x has â²/(n−1) ~ Beta(½,(n−2)/2)"),
            ("batch", bn_pred, mf, 2.0 / math.sqrt(n),
             "Beta law for the batch; bias O(1/√n): examples' norms and overlaps differ by O(1/√n)"))):
        s = _np(jax.jit(jax.vmap(lambda k: _s10_draw(k, act, n, B, L, sw2, norm)))(
            jax.random.split(jax.random.fold_in(key, i), m)))
        e = estimate(s)
        rows.append(Comparison(f"tanh σ_w²={sw2:g}, norm={norm}: mean tanh'(a) over layers {L // 2}–{L}",
                               pred, e.mean, e.se, m, planted, bias=bias,
                               note=note + "; planted: the other regime's value"))
    return rows


# ----------------------------------------------------------------------------- L6
def _l6_slope(key, act, n, B, L, skip):
    p, xg = _mlp_and_inputs(key, n, L, 1.0, 2 * B)
    x, g = xg[:B], xg[B:]
    logs = norm_mlp_gradient_flow(p, x, act, g, norm="batch", eps=1e-5)
    d = logs[:-1] - logs[1:]  # log ‖g_{l−1}‖² − log ‖g_l‖², l = 1..L
    return jnp.mean(d[skip:])


@claim(id="L6", area="mechanisms", title="BatchNorm makes gradients explode at initialisation",
       statement="In a deep BN network at initialisation (batch statistics) the gradient explodes "
                 "geometrically with depth whatever σ_w; for ReLU ‖∂L/∂x_l‖² grows by π/(π−1) ≈ 1.467 "
                 "per layer at large batch and width; tanh: E φ'²/Var φ ≈ 1.178 (mean field).",
       source="Yang, Pennington, Rao, Sohl-Dickstein & Schoenholz 2019, A mean field theory of batch normalization (ICLR)")
def l6(key, full):
    n, B, L, m = (1024 if full else 256), (256 if full else 128), (32 if full else 20), (8 if full else 6)
    rows = []
    for i, name in enumerate(("relu", "tanh")):
        act = activation(name)
        s = _np(jax.jit(jax.vmap(lambda k: _l6_slope(k, act, n, B, L, 4)))(
            jax.random.split(jax.random.fold_in(key, i), m)))
        e = estimate(s)
        rate = th.bn_gradient_rate(act)
        rows.append(Comparison(
            f"{name}: per-layer Δ log‖∂L/∂x_l‖², n={n}, B={B}", math.log(rate), e.mean, e.se, m, 0.0,
            bias=3.0 / n + 2.0 / B,
            note=f"prediction log λ, λ = {rate:.4f}; bias O(1/n)+O(1/B) with constants 3, 2 from a sweep "
                 "over n ∈ {256, 1024}, B ∈ {16, 64, 256} (ReLU); planted: 0 ('BN keeps gradients stable')"))
    return rows


# ----------------------------------------------------------------------------- S11
def _dead_fraction(key, width, depth, m):
    def one(k):
        p, x = _mlp_and_inputs(k, width, depth, 2.0, 1)  # He init, no biases
        return jnp.all(mlp_apply(p, x[0], "relu") == 0)

    return float(jnp.mean(jax.jit(jax.vmap(one))(jax.random.split(key, m))))


@functools.lru_cache(maxsize=4)
def _dead_fractions(key_data: tuple, m: int):
    key = jnp.asarray(key_data, jnp.uint32)
    return tuple(_dead_fraction(jax.random.fold_in(key, i), w, L, m) for i, (w, L) in enumerate(_DYING))


_DYING = ((3, 10), (2, 10))


def _s11_common(key, full):
    f64 = _f64()
    m = 40000 if full else 8000
    rows = []
    fractions = _dead_fractions(tuple(np.asarray(jax.random.key_data(key)).ravel().tolist()), m)
    for p, (w, L) in zip(fractions, _DYING):
        pred = th.dying_relu_probability([w] * L)
        rows.append(Comparison(f"dying ReLU: P(output ≡ 0 at x), width {w}, depth {L}", pred, p,
                               math.sqrt(max(p * (1 - p), 1.0 / m) / m), m,
                               th.dying_relu_probability([w] * (L - 1)),
                               note="1 − Π(1 − 2^(−n_l)); planted: one layer fewer"))
    g = jax.vmap(jax.grad(jax.nn.relu))(jnp.linspace(1e-6, 50.0, 2001, dtype=f64))
    rows.append(Comparison("ReLU'(a) on active paths (a > 0): min = max = 1", 1.0, float(jnp.min(g)), 0.0, 1,
                           0.25, rtol=_rtol(f64), note="autodiff; planted: sigmoid's 1/4"))
    grid = jnp.linspace(-50.0, -1e-6, 5001, dtype=f64)
    for name, kw, planted in (("leaky_relu", {"alpha": 0.01}, 0.02), ("prelu", {"a": 0.25}, 0.5)):
        a = activation(name, **kw)
        d = jax.vmap(jax.grad(a.fn))(grid)
        rows.append(Comparison(f"{a.name}: min φ'(a) on [−50, 0) ≥ 0.01 (keeps a negative-side gradient)",
                               0.01, float(jnp.min(d)), 0.0, 1, planted, kind="lower", rtol=_rtol(f64),
                               note="autodiff; 0.01 = the seed's small slope; planted: ≥ planted value"))
    return rows, grid


@claim(id="S11", area="mechanisms", expected=False,
       title="ReLU passes gradient 1 but can die; leaky ReLU, PReLU, ELU keep a negative-side gradient",
       statement="ReLU's derivative is 1 on active paths (no decay) but units can die (gradient 0); "
                 "leaky ReLU, PReLU and ELU keep a (non-vanishing) negative-side gradient.",
       source=SEED_1 + " (激活函数替换); " + SEED_0)
def s11(key, full):
    rows, grid = _s11_common(key, full)
    elu = activation("elu", alpha=1.0)
    d = jax.vmap(jax.grad(elu.fn))(grid)
    rows.append(Comparison("elu(1): min φ'(a) on [−50, 0) ≥ 0.01 (keeps a negative-side gradient)", 0.01,
                           float(jnp.min(d)), 0.0, 1, 0.02, kind="lower", rtol=_rtol(grid.dtype),
                           note="ELU'(a) = α e^a → 0 as a → −∞: ELU saturates on the negative side"))
    return rows


@claim(id="S11.corrected", area="mechanisms",
       title="Leaky ReLU/PReLU keep slope α; ELU's negative-side gradient α e^a vanishes; dying ReLU law",
       statement="ReLU' = 1 on active paths; a bias-free ReLU net is dead at an input w.p. "
                 "1 − Π(1 − 2^(−n_l)); leaky ReLU/PReLU keep φ' = α for a < 0; ELU's φ'(a) = α e^a "
                 "decays to 0 for a → −∞ (it saturates like sigmoid there); sigmoid' ≤ 1/4, tanh' ≤ 1.",
       source=SEED_1 + "; Lu et al. 2019 (dying ReLU)")
def s11_corrected(key, full):
    rows, _ = _s11_common(key, full)
    f64 = _f64()
    elu = activation("elu", alpha=1.0)
    elu_exp = lambda a: jnp.where(a > 0, a, jnp.exp(jnp.minimum(a, 0.0)) - 1.0)
    for a in (-1.0, -10.0, -30.0):
        v = float(jax.grad(elu_exp)(jnp.asarray(a, f64)))
        rows.append(Comparison(f"elu(1)'({a:g}) = α e^a", float(th.negative_side_derivative(elu, a)), v, 0.0, 1,
                               1.0, rtol=_rtol(f64),
                               note="autodiff of α(e^a − 1) (autodiff through expm1 loses relative accuracy "
                                    "for a ≪ 0: its JVP forms expm1(a) + 1); planted: α (a leaky-type slope)"))
    for name, bound, planted in (("sigmoid", 0.25, 1.0), ("tanh", 1.0, 0.25)):
        a = activation(name)
        g = jax.vmap(jax.grad(a.fn))(jnp.linspace(-20.0, 20.0, 4001, dtype=f64))
        rows.append(Comparison(f"max {name}'(a) on [−20, 20] = {bound:g} (attained at 0)",
                               th.derivative_bound(a), float(jnp.max(g)), 0.0, 1, planted, rtol=_rtol(f64),
                               note="autodiff on a grid containing 0"))
    return rows


# ----------------------------------------------------------------------------- S12
@claim(id="S12", area="mechanisms", title="Sigmoid output: MSE gradient vanishes when confidently wrong; CE does not",
       statement="With p = σ(z): MSE gives ∂L/∂z = (p−y)p(1−p), which vanishes when the output is "
                 "confidently wrong; cross-entropy gives p − y. (Stable forms: no NaN at |z| = 1e4.)",
       source=SEED_2 + " (损失函数)")
def s12(key, full):
    del key, full
    f64 = _f64()
    rows = []
    z = jnp.asarray([-1e4, -30.0, -10.0, -1.0, 0.0, 3.0], f64)
    for loss, other in (("mse", "bce"), ("bce", "mse")):
        ad, cf, wrong = autodiff_logit_grad(loss, z, 1.0), logit_grad(loss, z, 1.0), logit_grad(other, z, 1.0)
        for i in (2, 4):
            rows.append(Comparison(f"{loss}: ∂L/∂z at z={float(z[i]):g}, y=1 (autodiff vs closed form)",
                                   float(cf[i]), float(ad[i]), 0.0, 1, float(wrong[i]), rtol=_rtol(f64),
                                   note=f"planted: the {other} formula"))
    zc = -10.0
    rows.append(Comparison("confidently wrong (z=−10, y=1): |∂L_MSE/∂z| ≤ e^(−10)", math.exp(zc),
                           abs(float(logit_grad("mse", zc, 1.0))), 0.0, 1, math.exp(zc) / 4, kind="upper",
                           rtol=1e-6, note="(1−p)²p ≤ e^z for z < 0; planted: ≤ e^z/4"))
    bad = 0
    for dt in (jnp.float16, jnp.float32, f64):
        zz, yy = jnp.asarray([-1e4, 1e4, -1e4, 1e4], dt), jnp.asarray([0.0, 0.0, 1.0, 1.0], dt)
        for loss in ("mse", "bce"):
            bad += int(jnp.sum(~jnp.isfinite(autodiff_logit_grad(loss, zz, yy))))
    rows.append(Comparison("non-finite autodiff gradients at |z| = 1e4 (float16/32/64, both losses, y ∈ {0,1})",
                           0.0, float(bad), 0.0, 1, 1.0, note="planted: at least one NaN/inf"))
    return rows


# ----------------------------------------------------------------------------- S13
def _backends():
    out = ["cpu"]
    d = jax.default_backend()
    if d != "cpu":
        out.append(d)
    return out


def _dtypes():
    return [d for d in DTYPES if d != "float64" or jax.config.jax_enable_x64]


@claim(id="S13", area="mechanisms", expected=False, title="float32: ×0.1 reaches exactly 0 after about 45 steps",
       statement="Multiplying by 0.1 repeatedly in single precision (binary32) underflows to exactly 0 after "
                 "about 45 multiplications.",
       source=SEED_2 + " (下溢)")
def s13(key, full):
    del key, full
    rows = []
    for be in _backends():
        r = underflow_step("float32", "jit", be)
        rows.append(Comparison(f"float32, XLA:{be} jit: steps to exactly 0", 45.0, float(r.steps), 0.0, 1,
                               float(r.ieee_ftz), bias=1.0,
                               note=f"'about' = ±1; subnormals kept: {r.subnormals_kept}; planted: the "
                                    "flush-to-zero count"))
    r = underflow_step("float32", "numpy")
    rows.append(Comparison("float32, host NumPy (IEEE 754): steps to exactly 0", 45.0, float(r.steps), 0.0, 1,
                           float(r.ieee_ftz), bias=1.0, note="planted: the flush-to-zero count"))
    return rows


@claim(id="S13.corrected", area="mechanisms",
       title="Underflow step = ⌈ln t/ln fl(0.1)⌉, t = s_min/2 (subnormals) or n_min (flush-to-zero)",
       statement="Repeated ×fl(0.1) from 1 reaches exactly 0 at k = ⌈ln t / ln c⌉ with t the half smallest "
                 "subnormal when the arithmetic keeps subnormals and the smallest normal when it flushes "
                 "them: float32 46 vs 38, float64 324 vs 308, bfloat16 41 vs 38, float16 8 vs 5. Which "
                 "applies is a property of the backend (XLA:CPU flushes float32/64/bf16 but computes float16 "
                 "in float32, keeping float16's subnormals).",
       source=SEED_2 + "; IEEE 754-2008 §7.5")
def s13_corrected(key, full):
    del key, full
    rows = []
    for dt in _dtypes():
        for be, mode in [(b, md) for b in _backends() for md in ("jit", "eager")] + [(None, "numpy")]:
            r = underflow_step(dt, mode, be)
            pred, planted = ((r.ieee_subnormal, r.ieee_ftz) if r.subnormals_kept else (r.ieee_ftz, r.ieee_subnormal))
            rows.append(Comparison(f"{dt}, {r.backend} {mode}: steps to exactly 0 (subnormals kept: "
                                   f"{r.subnormals_kept})", float(pred), float(r.steps), 0.0, 1, float(planted),
                                   note="mode probed by one multiply n_min·0.5; planted: the other mode"))
    return rows


# ----------------------------------------------------------------------------- S16
@claim(id="S16", area="mechanisms", title="Explicit Euler's global error follows the backprop recursion",
       statement="The global error of explicit Euler obeys the same driven linear recursion as backpropagated "
                 "gradients, e_{k+1} = J_k e_k + τ_k with J = ∂Φ/∂y; for y' = λy the amplification over k "
                 "steps is |1 + hλ|^k (vanishing if < 1, exploding if > 1).",
       source=SEED_2 + " (时空回响: 常微分方程)")
def s16(key, full):
    del key, full
    f64 = _f64()
    rt = _rtol(f64)
    K, rows = 30, []
    for h in (0.5, 1.5, 2.5):
        r = euler_errors(jnp.asarray([[-1.0]], f64), jnp.asarray([1.0], f64), h, K)
        s = float(r.sensitivity[0, 0])
        rows.append(Comparison(f"y'=−y, h={h}: |∂y_K/∂y_0| (autodiff), K={K} = |1+hλ|^K",
                               th.euler_amplification(h, -1.0, K), abs(s), 0.0, 1, math.exp(-h * K), rtol=rt * K,
                               note="planted: e^(λhK), the exact flow's sensitivity"))
    a = jnp.asarray([[0.0, 1.0], [-4.0, -0.3]], f64)
    for h in (0.05, 0.4):
        r = euler_errors(a, jnp.asarray([1.0, 0.0], f64), h, 200)
        rows.append(Comparison(f"oscillator, h={h}, K=200: global error e_K[0] vs Σ (∂y_K/∂y_(k+1)) τ_k[0]",
                               float(r.propagated[0]), float(r.global_error[0]), 0.0, 1,
                               float(jnp.sum(r.local[:, 0])),
                               rtol=1e3 * rt, note="planted: Σ τ_k (local errors simply adding up)"))
    return rows


# ----------------------------------------------------------------------------- L9
@claim(id="L9", area="mechanisms", title="Barren plateaus: Var ∂E/∂θ ≈ 2^−(n+1) for 2-design circuits",
       statement="For random parameterised circuits that form 2-designs, the variance of a cost gradient "
                 "decays exponentially with the number of qubits: Var = N²/(2(N+1)(N²−1)), N = 2ⁿ, for a "
                 "Pauli-rotation parameter and a Pauli-string observable.",
       source="McClean, Boixo, Smelyanskiy, Babbush & Neven 2018, Barren plateaus in quantum neural network training landscapes, Nat. Commun. 9:4812")
def l9(key, full):
    nmax = 8 if full else 5
    depth, m = 10 * nmax, (4000 if full else 1000)
    ns = list(range(2, nmax + 1))
    run = jax.jit(jax.vmap(lambda a, k: random_circuit_gradients(_rbg(k), nmax, depth, m, n_active=a).grads))
    g = _np(run(jnp.asarray(ns), jax.random.split(key, len(ns))))
    rows = []
    for i, n in enumerate(ns):
        v = variance_estimate(g[i])
        rows.append(Comparison(f"n={n} qubits, depth {depth}: Var ∂E/∂θ (E = ⟨Z₀Z₁⟩)", th.barren_plateau_variance(n),
                               v.mean, v.se, m, 2.0**-n,
                               note="bias 0: assumes depth ≥ 10·n_max gives 2-designs on both sides; "
                                    "planted: 2^(−n)"))
    return rows


# ----------------------------------------------------------------------------- L10
def _l10_slopes(key, eps, T, d):
    z = jax.random.normal(_rbg(key), (3 * d * d + d + T * d,), eps.dtype)
    w = z[: 3 * d * d].reshape(3, d, d) / math.sqrt(d)
    xbar = z[3 * d * d: 3 * d * d + d][None, :]
    r = z[3 * d * d + d:].reshape(T, d)
    r = r - jnp.mean(r, axis=0)

    def slope(variant):
        def res_pair(e):
            x0 = xbar + e * r
            x1 = attention_block((w[0], w[1], w[2]), x0, variant)
            return jnp.log(rank_one_residual(x0)), jnp.log(rank_one_residual(x1))

        l0, l1 = jax.vmap(res_pair)(eps)
        return jnp.polyfit(l0, l1, 1)[0]

    return jnp.stack([slope(v) for v in _L10_VARIANTS])


_L10_VARIANTS = ("pure", "ln", "skip", "skip_ln")


@claim(id="L10", area="mechanisms", title="Pure attention collapses to rank 1 doubly exponentially; skips prevent it",
       statement="Without skip connections, deep self-attention loses rank doubly exponentially: "
                 "res(X_{l+1}) ∝ res(X_l)³ near collapse (so res_L ~ res_0^{3^L}); LayerNorm alone does not "
                 "help; with skip connections the identity carries the residual (local exponent 1).",
       source="Dong, Cordonnier & Loukas 2021, Attention is not all you need: pure attention loses rank doubly exponentially with depth (ICML)")
def l10(key, full):
    f64 = _f64()
    eps = jnp.asarray([1e-2, 1e-3, 1e-4] if f64 == jnp.float64 else [1e-1, 3e-2, 1e-2], f64)
    T, d, m = 16, 32, (64 if full else 16)
    rows = []
    slopes = _np(jax.jit(jax.vmap(lambda k: _l10_slopes(k, eps, T, d)))(jax.random.split(key, m)))
    for i, variant in enumerate(_L10_VARIANTS):
        e = estimate(slopes[:, i])
        p = th.rank_collapse_exponent(variant)
        rows.append(Comparison(f"{variant}: slope of log res(X₁) vs log res(X₀) near rank 1 (T={T}, d={d})",
                               p, e.mean, e.se, m, 4.0 - p, bias=0.05,
                               note=f"ε ∈ {np.asarray(eps).tolist()}; bias: O(ε) higher-order terms over two "
                                    "decades; planted: the other regime's exponent"))
    return rows
