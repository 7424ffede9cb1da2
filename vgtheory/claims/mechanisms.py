"""Registered claims: mechanisms — activations, losses, numerics, quantum circuits (S11–S13,
S16; L9). The architectural remedies (S8–S10, L6, L10) are in ``architecture.py``.

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
from .._claims import Comparison, claim
from .._euler import euler_errors
from .._losses import autodiff_logit_grad, logit_grad
from .._mlp import mlp_apply
from .._quantum import random_circuit_gradients
from .._stats import variance_estimate
from .._underflow import DTYPES, underflow_step
from ..theory import _mechanisms as th
from ._common import as_np as _np
from ._common import member_values
from .._numerics import acc_dtype as _f64  # float64 when x64 is on, else float32
from ._common import mlp_and_inputs as _mlp_and_inputs
from ._common import rtol_for as _rtol

SEED_0 = "seeds/000 (梯度消失: 解决方案与缓解策略)"
SEED_1 = "seeds/001 (梯度消失的解决方案)"
SEED_2 = "seeds/002 (从悄声到寂静: 下溢; 时空回响)"


# ----------------------------------------------------------------------------- S11
def _dead_fraction(key, width, depth, m, full):
    def one(k):  # one network per member of vg.ensemble: 1 if its output is identically 0
        p, x = _mlp_and_inputs(k, width, depth, 2.0, 1)  # He init, no biases
        return jnp.all(mlp_apply(p, x[0], "relu") == 0).astype(jnp.float32)

    return float(np.mean(_np(member_values(one, key, m, full))))


@functools.lru_cache(maxsize=4)
def _dead_fractions(key_data: tuple, m: int, full: bool):
    key = jnp.asarray(key_data, jnp.uint32)
    return tuple(_dead_fraction(jax.random.fold_in(key, i), w, L, m, full) for i, (w, L) in enumerate(_DYING))


_DYING = ((3, 10), (2, 10))


def _s11_common(key, full):
    f64 = _f64()
    m = 40000 if full else 8000
    rows = []
    fractions = _dead_fractions(tuple(np.asarray(jax.random.key_data(key)).ravel().tolist()), m, full)
    for p, (w, L) in zip(fractions, _DYING):
        pred = th.dying_relu_probability([w] * L)
        rows.append(
            Comparison(
                label=f"dying ReLU: P(output ≡ 0 at x), width {w}, depth {L}",
                prediction=pred,
                estimate=p,
                se=math.sqrt(max(p * (1 - p), 1.0 / m) / m),
                n=m,
                planted=th.dying_relu_probability([w] * (L - 1)),
                note="1 − Π(1 − 2^(−n_l)); planted: one layer fewer",
            )
        )
    g = jax.vmap(jax.grad(jax.nn.relu))(jnp.linspace(1e-6, 50.0, 2001, dtype=f64))
    rows.append(
        Comparison(
            label="ReLU'(a) on active paths (a > 0): min = max = 1",
            prediction=1.0,
            estimate=float(jnp.min(g)),
            se=0.0,
            n=1,
            planted=0.25,
            rtol=_rtol(f64),
            note="autodiff; planted: sigmoid's 1/4",
        )
    )
    grid = jnp.linspace(-50.0, -1e-6, 5001, dtype=f64)
    for name, kw, planted in (("leaky_relu", {"alpha": 0.01}, 0.02), ("prelu", {"a": 0.25}, 0.5)):
        a = activation(name, **kw)
        d = jax.vmap(jax.grad(a.fn))(grid)
        rows.append(
            Comparison(
                label=f"{a.name}: min φ'(a) on [−50, 0) ≥ 0.01 (keeps a negative-side gradient)",
                prediction=0.01,
                estimate=float(jnp.min(d)),
                se=0.0,
                n=1,
                planted=planted,
                kind="lower",
                rtol=_rtol(f64),
                note="autodiff; 0.01 = the seed's small slope; planted: ≥ planted value",
            )
        )
    return rows, grid


@claim(
    id="S11",
    area="mechanisms",
    expected=False,
    title="ReLU passes gradient 1 but can die; leaky ReLU, PReLU, ELU keep a negative-side gradient",
    statement="ReLU's derivative is 1 on active paths (no decay) but units can die (gradient 0); "
    "leaky ReLU, PReLU and ELU keep a (non-vanishing) negative-side gradient.",
    source=SEED_1 + " (激活函数替换); " + SEED_0,
)
def s11(key, full):
    rows, grid = _s11_common(key, full)
    elu = activation("elu", alpha=1.0)
    d = jax.vmap(jax.grad(elu.fn))(grid)
    rows.append(
        Comparison(
            label="elu(1): min φ'(a) on [−50, 0) ≥ 0.01 (keeps a negative-side gradient)",
            prediction=0.01,
            estimate=float(jnp.min(d)),
            se=0.0,
            n=1,
            planted=0.02,
            kind="lower",
            rtol=_rtol(grid.dtype),
            note="ELU'(a) = α e^a → 0 as a → −∞: ELU saturates on the negative side",
        )
    )
    return rows


@claim(
    id="S11.corrected",
    area="mechanisms",
    title="Leaky ReLU/PReLU keep slope α; ELU's negative-side gradient α e^a vanishes; dying ReLU law",
    statement="ReLU' = 1 on active paths; a bias-free ReLU net is dead at an input w.p. "
    "1 − Π(1 − 2^(−n_l)); leaky ReLU/PReLU keep φ' = α for a < 0; ELU's φ'(a) = α e^a "
    "decays to 0 for a → −∞ (it saturates like sigmoid there); sigmoid' ≤ 1/4, tanh' ≤ 1.",
    source=SEED_1 + "; Lu et al. 2019 (dying ReLU)",
)
def s11_corrected(key, full):
    rows, _ = _s11_common(key, full)
    f64 = _f64()
    elu = activation("elu", alpha=1.0)
    elu_exp = lambda a: jnp.where(a > 0, a, jnp.exp(jnp.minimum(a, 0.0)) - 1.0)
    for a in (-1.0, -10.0, -30.0):
        v = float(jax.grad(elu_exp)(jnp.asarray(a, f64)))
        rows.append(
            Comparison(
                label=f"elu(1)'({a:g}) = α e^a",
                prediction=float(th.negative_side_derivative(elu, a)),
                estimate=v,
                se=0.0,
                n=1,
                planted=1.0,
                rtol=_rtol(f64),
                note="autodiff of α(e^a − 1) (autodiff through expm1 loses relative accuracy "
                "for a ≪ 0: its JVP forms expm1(a) + 1); planted: α (a leaky-type slope)",
            )
        )
    for name, bound, planted in (("sigmoid", 0.25, 1.0), ("tanh", 1.0, 0.25)):
        a = activation(name)
        g = jax.vmap(jax.grad(a.fn))(jnp.linspace(-20.0, 20.0, 4001, dtype=f64))
        rows.append(
            Comparison(
                label=f"max {name}'(a) on [−20, 20] = {bound:g} (attained at 0)",
                prediction=th.derivative_bound(a),
                estimate=float(jnp.max(g)),
                se=0.0,
                n=1,
                planted=planted,
                rtol=_rtol(f64),
                note="autodiff on a grid containing 0",
            )
        )
    return rows


# ----------------------------------------------------------------------------- S12
@claim(
    id="S12",
    area="mechanisms",
    title="Sigmoid output: MSE gradient vanishes when confidently wrong; CE does not",
    statement="With p = σ(z): MSE gives ∂L/∂z = (p−y)p(1−p), which vanishes when the output is "
    "confidently wrong; cross-entropy gives p − y. (Stable forms: no NaN at |z| = 1e4.)",
    source=SEED_2 + " (损失函数)",
)
def s12(key, full):
    del key, full
    f64 = _f64()
    rows = []
    z = jnp.asarray([-1e4, -30.0, -10.0, -1.0, 0.0, 3.0], f64)
    for loss, other in (("mse", "bce"), ("bce", "mse")):
        ad, cf, wrong = autodiff_logit_grad(loss, z, 1.0), logit_grad(loss, z, 1.0), logit_grad(other, z, 1.0)
        for i in (2, 4):
            rows.append(
                Comparison(
                    label=f"{loss}: ∂L/∂z at z={float(z[i]):g}, y=1 (autodiff vs closed form)",
                    prediction=float(cf[i]),
                    estimate=float(ad[i]),
                    se=0.0,
                    n=1,
                    planted=float(wrong[i]),
                    rtol=_rtol(f64),
                    note=f"planted: the {other} formula",
                )
            )
    zc = -10.0
    rows.append(
        Comparison(
            label="confidently wrong (z=−10, y=1): |∂L_MSE/∂z| ≤ e^(−10)",
            prediction=math.exp(zc),
            estimate=abs(float(logit_grad("mse", zc, 1.0))),
            se=0.0,
            n=1,
            planted=math.exp(zc) / 4,
            kind="upper",
            rtol=1e-6,
            note="(1−p)²p ≤ e^z for z < 0; planted: ≤ e^z/4",
        )
    )
    bad = 0
    for dt in (jnp.float16, jnp.float32, f64):
        zz, yy = jnp.asarray([-1e4, 1e4, -1e4, 1e4], dt), jnp.asarray([0.0, 0.0, 1.0, 1.0], dt)
        for loss in ("mse", "bce"):
            bad += int(jnp.sum(~jnp.isfinite(autodiff_logit_grad(loss, zz, yy))))
    rows.append(
        Comparison(
            label="non-finite autodiff gradients at |z| = 1e4 (float16/32/64, both losses, y ∈ {0,1})",
            prediction=0.0,
            estimate=float(bad),
            se=0.0,
            n=1,
            planted=1.0,
            note="planted: at least one NaN/inf",
        )
    )
    return rows


# ----------------------------------------------------------------------------- S13
def _backends():
    out = ["cpu"]
    d = jax.default_backend()
    if d != "cpu":
        out.append(d)
    return out


def _dtypes():
    return [d for d in DTYPES if d != "float64" or jax.config.read("jax_enable_x64")]


@claim(
    id="S13",
    area="mechanisms",
    expected=False,
    title="float32: ×0.1 reaches exactly 0 after about 45 steps",
    statement="Multiplying by 0.1 repeatedly in single precision (binary32) underflows to exactly 0 after "
    "about 45 multiplications.",
    source=SEED_2 + " (下溢)",
)
def s13(key, full):
    del key, full
    rows = []
    for be in _backends():
        r = underflow_step("float32", "jit", be)
        rows.append(
            Comparison(
                label=f"float32, XLA:{be} jit: steps to exactly 0",
                prediction=45.0,
                estimate=float(r.steps),
                se=0.0,
                n=1,
                planted=float(r.ieee_ftz),
                bias=1.0,
                note=f"'about' = ±1; subnormals kept: {r.subnormals_kept}; planted: the flush-to-zero count",
            )
        )
    r = underflow_step("float32", "numpy")
    rows.append(
        Comparison(
            label="float32, host NumPy (IEEE 754): steps to exactly 0",
            prediction=45.0,
            estimate=float(r.steps),
            se=0.0,
            n=1,
            planted=float(r.ieee_ftz),
            bias=1.0,
            note="planted: the flush-to-zero count",
        )
    )
    return rows


@claim(
    id="S13.corrected",
    area="mechanisms",
    title="Underflow step = ⌈ln t/ln fl(0.1)⌉, t = s_min/2 (subnormals) or n_min (flush-to-zero)",
    statement="Repeated ×fl(0.1) from 1 reaches exactly 0 at k = ⌈ln t / ln c⌉ with t the half smallest "
    "subnormal when the arithmetic keeps subnormals and the smallest normal when it flushes "
    "them: float32 46 vs 38, float64 324 vs 308, bfloat16 41 vs 38, float16 8 vs 5. Which "
    "applies is a property of the backend (XLA:CPU flushes float32/64/bf16 but computes float16 "
    "in float32, keeping float16's subnormals).",
    source=SEED_2 + "; IEEE 754-2008 §7.5",
)
def s13_corrected(key, full):
    del key, full
    rows = []
    for dt in _dtypes():
        for be, mode in [(b, md) for b in _backends() for md in ("jit", "eager")] + [(None, "numpy")]:
            r = underflow_step(dt, mode, be)
            pred, planted = (r.ieee_subnormal, r.ieee_ftz) if r.subnormals_kept else (r.ieee_ftz, r.ieee_subnormal)
            rows.append(
                Comparison(
                    label=f"{dt}, {r.backend} {mode}: steps to exactly 0 (subnormals kept: {r.subnormals_kept})",
                    prediction=float(pred),
                    estimate=float(r.steps),
                    se=0.0,
                    n=1,
                    planted=float(planted),
                    note="mode probed by one multiply n_min·0.5; planted: the other mode",
                )
            )
    return rows


# ----------------------------------------------------------------------------- S16
@claim(
    id="S16",
    area="mechanisms",
    title="Explicit Euler's global error follows the backprop recursion",
    statement="The global error of explicit Euler obeys the same driven linear recursion as backpropagated "
    "gradients, e_{k+1} = J_k e_k + τ_k with J = ∂Φ/∂y; for y' = λy the amplification over k "
    "steps is |1 + hλ|^k (vanishing if < 1, exploding if > 1).",
    source=SEED_2 + " (时空回响: 常微分方程)",
)
def s16(key, full):
    del key, full
    f64 = _f64()
    rt = _rtol(f64)
    K, rows = 30, []
    for h in (0.5, 1.5, 2.5):
        r = euler_errors(jnp.asarray([[-1.0]], f64), jnp.asarray([1.0], f64), h, K)
        s = float(r.sensitivity[0, 0])
        rows.append(
            Comparison(
                label=f"y'=−y, h={h}: |∂y_K/∂y_0| (autodiff), K={K} = |1+hλ|^K",
                prediction=th.euler_amplification(h, -1.0, K),
                estimate=abs(s),
                se=0.0,
                n=1,
                planted=math.exp(-h * K),
                rtol=rt * K,
                note="planted: e^(λhK), the exact flow's sensitivity",
            )
        )
    a = jnp.asarray([[0.0, 1.0], [-4.0, -0.3]], f64)
    for h in (0.05, 0.4):
        r = euler_errors(a, jnp.asarray([1.0, 0.0], f64), h, 200)
        rows.append(
            Comparison(
                label=f"oscillator, h={h}, K=200: global error e_K[0] vs Σ (∂y_K/∂y_(k+1)) τ_k[0]",
                prediction=float(r.propagated[0]),
                estimate=float(r.global_error[0]),
                se=0.0,
                n=1,
                planted=float(jnp.sum(r.local[:, 0])),
                rtol=1e3 * rt,
                note="planted: Σ τ_k (local errors simply adding up)",
            )
        )
    return rows


# ----------------------------------------------------------------------------- L9
@claim(
    id="L9",
    area="mechanisms",
    title="Barren plateaus: Var ∂E/∂θ ≈ 2^−(n+1) for 2-design circuits",
    statement="For random parameterised circuits that form 2-designs, the variance of a cost gradient "
    "decays exponentially with the number of qubits: Var = N²/(2(N+1)(N²−1)), N = 2ⁿ, for a "
    "Pauli-rotation parameter and a Pauli-string observable.",
    source="McClean, Boixo, Smelyanskiy, Babbush & Neven 2018, Barren plateaus in quantum neural network training landscapes, Nat. Commun. 9:4812",
)
def l9(key, full):
    nmax = 8 if full else 5
    depth, m = 10 * nmax, (4000 if full else 1000)
    ns = list(range(2, nmax + 1))
    active = jnp.asarray(ns)

    def member(k):  # one random circuit per member and qubit count (independent angles for each n)
        one = lambda a: random_circuit_gradients(jax.random.fold_in(k, a), nmax, depth, 1, n_active=a).grads[0]
        return jax.vmap(one)(active)

    g = _np(member_values(member, key, m, full)).T  # [len(ns), m]
    rows = []
    for i, n in enumerate(ns):
        v = variance_estimate(g[i])
        rows.append(
            Comparison(
                label=f"n={n} qubits, depth {depth}: Var ∂E/∂θ (E = ⟨Z₀Z₁⟩)",
                prediction=th.barren_plateau_variance(n),
                estimate=v.mean,
                se=v.se,
                n=m,
                planted=2.0**-n,
                note="bias 0: assumes depth ≥ 10·n_max gives 2-designs on both sides; planted: 2^(−n)",
            )
        )
    return rows
