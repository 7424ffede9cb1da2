"""Registered claims: hessian (S7 GD stability and Newton's step, S15 Adam, L8 edge of stability)."""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._claims import Comparison, claim
from .._gd_stability import direction_rate, gd_quadratic, newton_vs_gd, perturbation_rate
from .._landscape import (
    mlp_init,
    mse_loss,
    optimizer_steps,
    regression_data,
    sharpness_trajectory,
    train_to_minimum,
)
from .._lanczos import hessian_eigh
from ..theory import _landscape_theory as th
from ._common import member_values

_RTOL64 = 1e-9  # deterministic float64 quantities (rounding over ≤ 10³ steps)
_S7_ATTEMPTS = 5  # initialisations tried for a certified minimum of the trained net
_S7_GRAD_TOL = 1e-9


def _rtol():
    return _RTOL64 if jax.config.read("jax_enable_x64") else 1e-4


def _bisect(f, lo, hi, iters=40):
    """Smallest c in [lo, hi] with f(c) True (f monotone: False … True)."""
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if f(mid) else (mid, hi)
    return hi, hi - lo


# --- S7: GD stability at 2/λ_max, Newton vs GD ------------------------------------------


def _s7_quadratic(key, rows):
    d, steps = 20, 20

    @jax.jit
    def setup(key):
        lam = jnp.logspace(-1.0, 1.0, d)  # λ_max = 10 exactly
        kq, kx = jax.random.split(key)
        q = jnp.linalg.qr(jax.random.normal(kq, (d, d)))[0]
        h = jnp.matmul(q * lam[None, :], q.T, precision=jax.lax.Precision.HIGHEST)
        return 0.5 * (h + h.T), jax.random.normal(kx, (d,)), q[:, -1]

    h, x0, top = setup(key)
    lmax = 10.0
    rate = jax.jit(lambda eta: direction_rate(gd_quadratic(h, x0, eta, steps), top))
    for c in (0.8, 0.95, 0.99, 1.01, 1.05, 1.2):
        eta = c * float(th.gd_stability_threshold(lmax))
        rows.append(
            Comparison(
                label=f"quadratic d={d}, η={c}·2/λ_max: per-step factor along top eigenvector",
                prediction=float(th.gd_contraction(eta, lmax)),
                estimate=float(rate(eta)),
                se=0.0,
                n=1,
                planted=math.exp(-eta * lmax),
                rtol=_rtol(),
                note=f"exact recursion over T={steps} steps (float64); planted: gradient-flow "
                "factor e^{-ηλ} (never unstable)",
            )
        )
    # divergence threshold: smallest η with ‖x_T‖ > ‖x_0‖, in units of 2/λ_max
    t_long = 1000
    norm_T = jax.jit(lambda eta: jnp.linalg.norm(gd_quadratic(h, x0, eta, t_long)[-1]))
    n0 = float(np.linalg.norm(np.asarray(x0)))
    c_star, width = _bisect(lambda c: float(norm_T(c * 2.0 / lmax)) > n0, 0.5, 1.5, 32)
    p0 = abs(float(np.asarray(x0) @ np.asarray(top)))
    bias = ((n0 / p0) ** (1.0 / t_long) - 1.0) / 2.0 + width
    rows.append(
        Comparison(
            label=f"quadratic: divergence threshold η*·λ_max/2 (‖x_T‖ > ‖x_0‖, T={t_long})",
            prediction=1.0,
            estimate=c_star,
            se=0.0,
            n=1,
            planted=0.5,
            bias=bias,
            rtol=_rtol(),
            note="bias = ((‖x0‖/|⟨x0,v⟩|)^{1/T} − 1)/2: the growth (2c−1)^T of the top component "
            "must first outweigh the initial norm; below c=1 every factor |1−ηλ_i| < 1",
        )
    )


def _s7_network(key, rows, full):
    kd, kp, kl = jax.random.split(key, 3)
    x, y = regression_data(kd, 64, 3)
    wd = 1e-3  # weight decay keeps the minimum isolated and the weights bounded

    def loss(p):
        sq = sum(jnp.sum(a**2) for a in jax.tree_util.tree_leaves(p))
        return mse_loss(p, x, y) + 0.5 * wd * sq

    width = 16 if full else 8

    @jax.jit
    def setup(kp):
        m = train_to_minimum(loss, mlp_init(kp, (3, width, 1)), 0.5, 1000, 100)
        e = hessian_eigh(loss, m.params, 1, kl, num_iters=min(60, 4 * width + 1 - 1))
        return m, e

    # The rows are exact statements about a minimum: use the first initialisation whose
    # certificate holds (‖∇L‖ at rounding level, λ_min > 0). Training can stop at a saddle
    # or on a plateau (seen on 2 of 50 seeds); those points are skipped, not measured.
    for attempt in range(_S7_ATTEMPTS):
        m, e = setup(jax.random.fold_in(kp, attempt))
        if float(m.grad_norm) < _S7_GRAD_TOL and float(m.eig_min) > 0:
            break
    else:
        rows.append(
            Comparison(
                label=f"trained net: no certified minimum in {_S7_ATTEMPTS} initialisations",
                prediction=1.0,
                estimate=float("nan"),
                se=0.0,
                n=1,
                planted=0.5,
                note="training never reached ‖∇L‖ < 1e-9 with λ_min > 0: not measured",
            )
        )
        return
    lmax = float(e.values[0])
    v = jax.tree_util.tree_map(lambda a: a[0], e.vectors)
    steps = 20
    eps = 1e-7
    # r(η) at ε and ε/2 in one call: their difference bounds the nonlinearity error
    rate2 = jax.jit(jax.vmap(lambda eta, e: perturbation_rate(loss, m.params, v, eta, e, steps), in_axes=(None, 0)))
    rate = lambda eta: tuple(float(r) for r in rate2(eta, jnp.array([eps, eps / 2])))
    # rounding: each step perturbs both trajectories by ~u‖θ‖; against p ~ ε over T steps
    # the per-step factor moves by ~u‖θ‖√T/(εT); ×10 for safety
    u = float(jnp.finfo(jnp.result_type(float)).eps) / 2
    theta_norm = float(jnp.sqrt(sum(jnp.sum(a**2) for a in jax.tree_util.tree_leaves(m.params))))
    floor = 10 * u * theta_norm / (eps * math.sqrt(steps))
    note = (
        f"trained tanh MLP (3,{width},1), MSE + {wd}/2‖θ‖², ‖θ*‖={theta_norm:.2f}, ‖∇L(θ*)‖={float(m.grad_norm):.1e}, "
        f"λ_min={float(m.eig_min):.1e}, init attempt {attempt}; λ_max={lmax:.4f} by Lanczos; bias = "
        "2|r(ε)−r(ε/2)| (nonlinearity error, linear in ε) + 10u‖θ‖/(ε√T) (rounding), ε=1e-7"
    )
    for c in (0.9, 0.99, 1.01, 1.1):
        eta = c * 2.0 / lmax
        r1, r2 = rate(eta)
        rows.append(
            Comparison(
                label=f"trained net, η={c}·2/λ_max: per-step factor along top eigenvector",
                prediction=float(th.gd_contraction(eta, lmax)),
                estimate=r1,
                se=0.0,
                n=1,
                planted=math.exp(-eta * lmax),
                bias=2 * abs(r1 - r2) + floor,
                note=note,
            )
        )
    grows = lambda i: lambda c: rate(c * 2.0 / lmax)[i] > 1.0
    c1, w1 = _bisect(grows(0), 0.9, 1.1, 26)
    c2, _ = _bisect(grows(1), 0.9, 1.1, 26)
    rows.append(
        Comparison(
            label="trained net: divergence threshold η*·λ_max/2 (perturbation along v grows)",
            prediction=1.0,
            estimate=c1,
            se=0.0,
            n=1,
            planted=0.5,
            bias=2 * abs(c1 - c2) + w1 + floor,
            note=note,
        )
    )


def _s7_newton(rows):
    eta = 0.1
    # plateau: L = log cosh(w1) + log cosh(w2) at (4, 4); the gradient is an eigenvector
    # with curvature sech²(4) ≈ 1.3e-3
    plateau = lambda w: jnp.sum(jnp.log(jnp.cosh(w)))
    wp = jnp.array([4.0, 4.0])
    lam_p = 1.0 / math.cosh(4.0) ** 2
    # ravine: steep narrow valley in w1 (L = log cosh(10 w1)), gentle in w2; at
    # (0.05, 0): gradient along w1, curvature 100·sech²(0.5) ≈ 78.6
    ravine = lambda w: jnp.log(jnp.cosh(10.0 * w[0])) + 0.5 * 0.1 * w[1] ** 2
    wr = jnp.array([0.05, 0.0])
    lam_r = 100.0 / math.cosh(0.5) ** 2
    eta_r = 0.02  # stable: η·λ ≈ 1.57 < 2
    for name, f, w, lam, et in (("plateau", plateau, wp, lam_p, eta), ("ravine", ravine, wr, lam_r, eta_r)):
        r = jax.jit(newton_vs_gd, static_argnums=0)(f, w, et)
        rows.append(
            Comparison(
                label=f"Newton/GD step ratio on a {name} (η={et}, curvature λ={lam:.4g})",
                prediction=float(th.newton_gd_ratio(et, lam)),
                estimate=float(r.ratio),
                se=0.0,
                n=1,
                planted=1.0,
                rtol=_rtol() * 1e2,
                note="1/(ηλ): >1 enlarges (plateau), <1 shrinks (ravine); analytic curvature vs "
                "autodiff Hessian + solve; planted: no curvature scaling (ratio 1)",
            )
        )


@claim(
    id="S7",
    title="GD unstable iff η > 2/λ_max; Newton rescales by curvature",
    statement="Gradient descent is unstable iff η > 2/λ_max(H) (per-step factor |1−ηλ| along "
    "each eigen-direction); Newton's step −H⁻¹∇L enlarges steps on plateaus and "
    "shrinks them in ravines.",
    source="seeds/000 (高原与峡谷, 牛顿法)",
    area="hessian",
)
def s7(key, full):
    kq, kn = jax.random.split(key)
    rows: list[Comparison] = []
    _s7_quadratic(kq, rows)
    _s7_network(kn, rows, full)
    _s7_newton(rows)
    return rows


# --- S15: Adam's step vs gradient scale --------------------------------------------------------


@claim(
    id="S15",
    title="Adam moves each parameter by about η whatever its gradient scale",
    statement="Adam moves each parameter by about η whatever its gradient scale (first step "
    "η·g/(|g|+ε)); SGD and momentum steps scale with the gradient.",
    source="seeds/001 §6 (Momentum, Adam); Kingma & Ba 2015, Alg. 1",
    area="hessian",
)
def s15(key, full):
    eta, eps = 1e-3, 1e-8
    d = 4096 if full else 512
    steps = 400 if full else 200
    scales = (1e-4, 1e-2, 1.0, 1e2, 1e4)
    k1, k2 = jax.random.split(key)
    rows: list[Comparison] = []
    u = jax.random.normal(k1, (d,))
    adam = optax.adam(eta, eps=eps)
    first = jax.jit(lambda g: optimizer_steps(adam, g[None], jnp.zeros(d))[0])
    for s in scales:
        g = s * u
        est = float(jnp.mean(jnp.abs(first(g)))) / eta
        pred = float(jnp.mean(jnp.abs(th.adam_first_step(g, eta, eps)))) / eta
        rows.append(
            Comparison(
                label=f"Adam first step mean|Δθ|/η, gradient scale {s:g}",
                prediction=pred,
                estimate=est,
                se=0.0,
                n=1,
                planted=float(jnp.mean(jnp.abs(g))),
                rtol=max(_rtol(), 1e-6),
                note="exact: η|g|/(|g|+ε) with bias correction; planted: SGD's |g|",
            )
        )
    # steady state with noisy gradients g = s(1 + ½ξ): per-parameter mean |Δθ| over the second
    # half, independent across parameters; ratio to the scale-1 group
    noise = 1.0 + 0.5 * jax.random.normal(k2, (len(scales), steps, d))
    run = jax.jit(lambda g: optimizer_steps(adam, g, jnp.zeros(d)))
    per_param = [
        np.asarray(jnp.mean(jnp.abs(run(s * noise[i])[steps // 2 :]), axis=0)) / eta for i, s in enumerate(scales)
    ]
    ref = per_param[scales.index(1.0)]
    for i, s in enumerate(scales):
        if s == 1.0:
            continue
        a, b = per_param[i], ref
        r = a.mean() / b.mean()
        se = r * math.sqrt((a.std(ddof=1) / a.mean()) ** 2 / d + (b.std(ddof=1) / b.mean()) ** 2 / d)
        rows.append(
            Comparison(
                label=f"Adam steady state: mean|Δθ| at gradient scale {s:g} / at scale 1",
                prediction=1.0,
                estimate=r,
                se=se,
                n=d,
                planted=s,
                bias=2 * eps / s,
                note="independent noise per parameter and group; bias 2ε/s: ε against √v ≈ s·1.1",
            )
        )
    # SGD and heavy-ball momentum: the step scales with the gradient
    for s in (1e-2, 1e2):
        g = jnp.full((60, 4), s)
        sgd = float(jnp.abs(optimizer_steps(optax.sgd(eta), g, jnp.zeros(4))[-1, 0]))
        rows.append(
            Comparison(
                label=f"SGD step/η at gradient scale {s:g}",
                prediction=s,
                estimate=sgd / eta,
                se=0.0,
                n=1,
                planted=1.0,
                rtol=_rtol(),
                note="Δθ = −ηg; planted: Adam-like step η",
            )
        )
        mom = float(jnp.abs(optimizer_steps(optax.sgd(eta, momentum=0.9), g, jnp.zeros(4))[-1, 0]))
        rows.append(
            Comparison(
                label=f"heavy-ball momentum (β=0.9) step/η after 60 steps, gradient scale {s:g}",
                prediction=float(jnp.abs(th.momentum_step(s, 1.0, 0.9, 60))),
                estimate=mom / eta,
                se=0.0,
                n=1,
                planted=s,
                rtol=_rtol(),
                note="η g (1−β^t)/(1−β): scales with g; planted: no momentum amplification",
            )
        )
    return rows


# --- L8: edge of stability ---------------------------------------------------------------------------


@claim(
    id="L8",
    title="Edge of stability: sharpness rises to 2/η under full-batch GD",
    statement="Under full-batch gradient descent with step η, the sharpness λ_max(H) rises "
    "(progressive sharpening) until it reaches about 2/η and then hovers there.",
    source="Cohen, Kaur, Li, Kolter & Talwalkar, ICLR 2021, §3",
    area="hessian",
)
def l8(key, full):
    n_seeds = 16 if full else 4
    etas = (0.2, 0.3) if full else (0.3,)
    steps = 3000 if full else 1000
    rows: list[Comparison] = []
    for eta in etas:

        def one(k):
            kd, kp, kl = jax.random.split(k, 3)
            x, y = regression_data(kd, 64, 4)
            tr = sharpness_trajectory(
                partial(mse_loss, x=x, y=y), mlp_init(kp, (4, 32, 32, 1)), optax.sgd(eta), steps, 10, kl
            )
            s = tr.sharpness
            return jnp.mean(s[s.shape[0] // 2 :]) * eta / 2.0, s[0] * eta / 2.0

        # one trained network per member, one member at a time (as lax.map did: vmapping the
        # sharpness solver's loops over members ran 40 % slower on CPU)
        late, early = member_values(one, key, n_seeds, full, chunk_size=1)
        late, early = np.asarray(late), np.asarray(early)
        rows.append(
            Comparison(
                label=f"η={eta}: mean sharpness over steps {steps // 2}–{steps} / (2/η)",
                prediction=1.0,
                estimate=late.mean(),
                se=late.std(ddof=1) / math.sqrt(n_seeds),
                n=n_seeds,
                planted=2.0,
                bias=0.05,
                note=f"tanh MLP (4,32,32,1), 64 points, MSE, optax.sgd; one seed = one sample; "
                f"sharpness at step 10: {early.mean():.2f}·(2/η); bias 0.05: 'hovers just "
                "above 2/η' (Cohen et al.); planted 4/η",
            )
        )
        rows.append(
            Comparison(
                label=f"η={eta}: same, against 1/η",
                prediction=1.0,
                estimate=late.mean(),
                se=late.std(ddof=1) / math.sqrt(n_seeds),
                n=n_seeds,
                planted=0.5,
                bias=0.05,
                note="planted 1/η (ratio 0.5)",
            )
        )
    return rows
