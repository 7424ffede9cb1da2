"""Mean field for every activation family: closed forms, divergent and degenerate points,
plain callables, and every built-in against a width-1024 simulation (issue 13 item 2).

References are independent of the library's quadrature: scipy.integrate.quad/dblquad and
mpmath (root of the length map, 30 digits), the erf and arc-cosine closed forms.
"""

import functools
import math

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
from scipy import integrate, optimize

import vgtheory as vg
from vgtheory.theory import _meanfield as mf

GAUSS = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def _quad_e(f, q):
    """E f(√q z) by scipy quad, split at 0 (kinks)."""
    g = lambda z: f(math.sqrt(q) * z) * GAUSS(z)
    return integrate.quad(g, -40, 0, limit=400)[0] + integrate.quad(g, 0, 40, limit=400)[0]


# ----------------------------------------------------------------------------- regressions (issue 13)
def test_relu_chi1_exact_at_zero_bias():
    m = mf.mean_field("relu", 1.5, 0.0)  # was χ₁ = 0.0 (q* iterated to 0, φ'(0) = 0)
    assert float(m.chi1) == 0.75 and float(m.qstar) == 0.0 and m.phase_name == "ordered"
    assert float(m.xi_q) == pytest.approx(-1 / math.log(0.75), rel=1e-12)


def test_relu_exploding_is_inf_not_nan():
    m = mf.mean_field("relu", 3.0, 0.05)  # was q* = NaN, χ₁ = 0
    assert float(m.qstar) == math.inf and float(m.chi1) == 1.5 and m.phase_name == "exploding"
    assert float(m.xi_q) == pytest.approx(-1 / math.log(1.5), rel=1e-12)  # negative: growth scale
    assert not any(np.isnan(float(v)) for v in m)


def test_gelu_exploding_is_inf_not_nan():
    m = mf.mean_field("gelu", 3.0, 0.05)  # was all NaN
    assert not any(np.isnan(float(v)) for v in m)
    assert float(m.qstar) == math.inf and m.phase_name == "exploding"
    # F(q) − q > 0 for every q (checked with scipy), and χ₁ → σ_w²(φ'(∞)² + φ'(−∞)²)/2 = 1.5
    gelu = lambda h: h * 0.5 * math.erfc(-h / math.sqrt(2))
    for q in [1e-3, 0.1, 1.0, 10.0, 1e3]:
        assert 3.0 * _quad_e(lambda h: gelu(h) ** 2, q) + 0.05 > q
    np.testing.assert_allclose(float(m.chi1), 1.5, rtol=1e-12)


def test_critical_sigma_w2_exact_points():
    assert float(mf.critical_sigma_w2("relu", 0.0)) == 2.0  # was 20.0, the bracket end
    assert float(mf.critical_sigma_w2("relu", 0.3)) == 2.0
    assert float(mf.critical_sigma_w2("leaky_relu", 0.1)) == pytest.approx(2 / (1 + 0.01**2), rel=1e-15)
    assert float(mf.critical_sigma_w2(vg.activation("prelu", a=-0.5), 0.0)) == pytest.approx(1.6, rel=1e-15)
    assert float(mf.critical_sigma_w2("linear", 0.2)) == 1.0
    for dt in (jnp.float64, jnp.float32):  # was 1.0034: tangential crossing, q* → 0 like 1/l
        assert abs(float(mf.critical_sigma_w2("tanh", dt(0.0))) - 1.0) <= 1e-5
        assert abs(float(mf.critical_sigma_w2("erf", dt(0.0))) - math.pi / 4) <= 1e-5
    # the same inside jit(vmap(...)) over σ_b² (the phase-diagram figure's call)
    crit = jax.jit(jax.vmap(lambda b: mf.critical_sigma_w2("tanh", b)))(jnp.array([0.0, 0.05], jnp.float32))
    assert float(crit[0]) == 1.0 and float(crit[1]) == pytest.approx(
        float(mf.critical_sigma_w2("tanh", 0.05)), rel=1e-6
    )


def test_critical_sigma_w2_never_returns_the_bracket_end():
    with pytest.raises(ValueError, match=r"^hi: .*\[0\.1, 1\]"):  # was 1.0 = hi
        mf.critical_sigma_w2("tanh", 0.05, hi=1.0)
    with pytest.raises(ValueError, match=r"^lo: "):
        mf.critical_sigma_w2("tanh", 0.05, lo=2.0, hi=3.0)
    grown = float(mf.critical_sigma_w2("tanh", 0.05, hi=1.0, grow=True))
    np.testing.assert_allclose(grown, float(mf.critical_sigma_w2("tanh", 0.05)), rtol=1e-12)
    assert 1.0 < grown < 2.0
    # under vmap (traced σ_b²) a bracket without a crossing is NaN, never an end point
    out = jax.vmap(lambda b: mf.critical_sigma_w2("tanh", b, hi=1.0))(jnp.array([0.05, 0.1]))
    assert np.all(np.isnan(np.asarray(out)))


def test_critical_sigma_w2_is_the_chi1_crossing():
    s = float(mf.critical_sigma_w2("tanh", 0.05))
    chi = lambda s2: float(mf.chi1("tanh", s2, mf.qstar("tanh", s2, 0.05)))
    assert chi(s * (1 - 1e-9)) < 1.0 < chi(s * (1 + 1e-9))


def test_plain_callable_everywhere():
    silu = lambda x: x * jax.nn.sigmoid(x)
    a, b = mf.mean_field(silu, 1.7, 0.1), mf.mean_field("silu", 1.7, 0.1)
    for u, v in zip(a, b):
        np.testing.assert_allclose(float(u), float(v), rtol=1e-9)
    gelu_ish = lambda x: x * jax.nn.sigmoid(1.702 * x)  # was AttributeError: no attribute 'fn'
    m = mf.mean_field(gelu_ish, 1.5, 0.1)
    g = mf.mean_field("gelu", 1.5, 0.1)
    assert m.phase_name == g.phase_name == "ordered"
    np.testing.assert_allclose(float(m.qstar), float(g.qstar), rtol=2e-2)  # the approximation's own error
    np.testing.assert_allclose(
        float(mf.critical_sigma_w2(jnp.tanh, 0.05)), float(mf.critical_sigma_w2("tanh", 0.05)), rtol=1e-9
    )
    # networks take the same callable
    p = vg.init_mlp(jax.random.key(0), [6] * 3, dtype=jnp.float64)
    x = jnp.linspace(-1.0, 1.0, 6)
    np.testing.assert_allclose(vg.mlp_apply(p, x, silu), vg.mlp_apply(p, x, "silu"), rtol=1e-13)
    np.testing.assert_allclose(vg.mlp_jacobian(p, x, silu), vg.mlp_jacobian(p, x, "silu"), rtol=1e-12)


# ----------------------------------------------------------------------------- independent references
def test_closed_forms_vs_scipy():
    for name, alpha in [("relu", 0.0), ("leaky_relu", 0.01)]:
        phi = lambda h: h if h > 0 else alpha * h
        for s2, b2 in [(1.3, 0.2), (0.5, 0.0)]:
            m = mf.mean_field(name, s2, b2)
            ref_kappa = s2 * _quad_e(lambda h: phi(h) ** 2, 1.0)  # E φ(z)² = E φ'(z)² here
            np.testing.assert_allclose(float(m.chi1), ref_kappa, rtol=1e-9)
            np.testing.assert_allclose(float(m.qstar), b2 / (1 - ref_kappa), rtol=1e-9, atol=1e-300)
            assert float(m.cstar) == 1.0
    # the arc-cosine correlation map against a 2-D scipy integral
    for c in [-0.7, 0.0, 0.4, 0.95]:
        for alpha in [0.0, 0.2, -0.5]:
            phi = lambda h: h if h > 0 else alpha * h
            s = math.sqrt(1 - c * c)

            def inner(z1):  # over z2, split at the kink of φ(c z1 + s z2)
                g, k = (lambda z2: phi(c * z1 + s * z2) * GAUSS(z2)), -c * z1 / s
                return integrate.quad(g, -14, k, epsabs=1e-14)[0] + integrate.quad(g, k, 14, epsabs=1e-14)[0]

            outer = lambda z1: phi(z1) * GAUSS(z1) * inner(z1)
            ref = integrate.quad(outer, -14, 0, epsabs=1e-13)[0] + integrate.quad(outer, 0, 14, epsabs=1e-13)[0]
            act = vg.activation("prelu", a=alpha)
            np.testing.assert_allclose(float(mf.correlation_map(c, 1.0, act, 1.0, 0.0)), ref, rtol=1e-7, atol=1e-9)


def test_hard_tanh_closed_forms_vs_scipy():
    # Gauss–Hermite missed E[φ'²] by ~2 % here (φ' jumps at |h| = 1); found by the @slow grid
    for q in [0.3, 1.0, 3.0]:
        t = 1 / math.sqrt(q)
        ref_len = sum(
            _quad_e(lambda h: min(h * h, 1.0) * (lo <= h / math.sqrt(q) < hi), q)
            for lo, hi in [(-math.inf, -t), (-t, t), (t, math.inf)]
        )
        np.testing.assert_allclose(float(mf.length_map(q, "hard_tanh", 1.0, 0.0)), ref_len, rtol=1e-9)
        np.testing.assert_allclose(float(mf.kappa("hard_tanh", q)), integrate.quad(GAUSS, -t, t)[0], rtol=1e-12)


def _mp_qstar(phi, s2, b2, guess):
    mp.mp.dps = 30
    E = lambda q: (
        mp.quad(lambda z: phi(mp.sqrt(q) * z) ** 2 * mp.exp(-z * z / 2), [-mp.inf, 0, mp.inf]) / mp.sqrt(2 * mp.pi)
    )
    return float(mp.findroot(lambda q: s2 * E(q) + b2 - q, guess))


@pytest.mark.parametrize("s2,b2,guess", [(1.5, 0.05, 0.4), (2.5, 0.05, 1.0), (1.1, 0.0, 0.05)])
def test_tanh_qstar_chi1_vs_mpmath(s2, b2, guess):
    m = mf.mean_field("tanh", s2, b2)
    q = _mp_qstar(mp.tanh, s2, b2, guess)
    np.testing.assert_allclose(float(m.qstar), q, rtol=1e-9)
    np.testing.assert_allclose(float(m.chi1), s2 * _quad_e(lambda h: 1 / math.cosh(h) ** 4, q), rtol=1e-8)


def test_tanh_chaotic_cstar_vs_scipy():
    s2, b2 = 2.5, 0.05
    m = mf.mean_field("tanh", s2, b2)
    q = float(m.qstar)

    def C(c):
        s = math.sqrt(1 - c * c)
        f = lambda z2, z1: (
            math.tanh(math.sqrt(q) * z1) * math.tanh(math.sqrt(q) * (c * z1 + s * z2)) * GAUSS(z1) * GAUSS(z2)
        )
        return (s2 * integrate.dblquad(f, -10, 10, -10, 10, epsabs=1e-11)[0] + b2) / q - c

    cstar = optimize.brentq(C, 0.1, 0.9, xtol=1e-10)
    np.testing.assert_allclose(float(m.cstar), cstar, atol=1e-6)
    assert m.phase_name == "chaotic" and 0 < float(m.xi_c) < math.inf


def test_erf_length_map_closed_form_fixed_point():
    # E[erf(√q z)²] = (2/π) arcsin(2q/(1 + 2q)): q* by brentq on the closed form
    s2, b2 = 2.0, 0.1
    q = optimize.brentq(lambda q: s2 * 2 / math.pi * math.asin(2 * q / (1 + 2 * q)) + b2 - q, 1e-6, 10, xtol=1e-14)
    np.testing.assert_allclose(float(mf.qstar("erf", s2, b2)), q, rtol=1e-10)


def test_sigma_b_zero_fixed_points():
    for s2 in [0.5, 0.9, 1.0]:
        m = mf.mean_field("tanh", s2, 0.0)
        assert float(m.qstar) == 0.0  # exactly 0, not a slowly iterated 1/l
        np.testing.assert_allclose(float(m.chi1), s2, rtol=1e-12)
    assert mf.mean_field("tanh", 1.0, 0.0).phase_name == "critical"
    assert float(mf.mean_field("tanh", 1.0, 0.0).xi_c) == math.inf
    m = mf.mean_field("tanh", 2.5, 0.0)
    assert m.phase_name == "chaotic" and abs(float(m.cstar)) < 1e-6  # odd φ, σ_b = 0: c* = 0


def test_phase_labels_and_depth_scales():
    assert mf.mean_field("tanh", 1.2, 0.05).phase_name == "ordered"
    assert mf.mean_field("tanh", 2.5, 0.05).phase_name == "chaotic"
    crit = mf.mean_field("relu", 2.0, 0.1)  # χ₁ = 1 exactly; q grows linearly
    assert crit.phase_name == "critical" and float(crit.qstar) == math.inf
    assert float(crit.xi_q) == math.inf and float(crit.xi_c) == math.inf
    lin = mf.mean_field("linear", 0.5, 0.1)
    np.testing.assert_allclose(float(lin.qstar), 0.2, rtol=1e-14)
    np.testing.assert_allclose(float(lin.xi_c), -1 / math.log(0.5), rtol=1e-12)
    # traced and vmapped: one compiled call across a sweep
    r = jax.jit(jax.vmap(lambda w: mf.mean_field("relu", w, 0.05)))(jnp.array([1.0, 2.0, 3.0]))
    assert list(np.asarray(r.phase)) == [0, 1, 3]


# ----------------------------------------------------------------------------- vs width-1024 networks
N_SIM, DEPTH, MEMBERS = 1024, 2, 16


def _simulate(act, s2, b2, q, key):
    """Per network: mean_i (h^L_i)² and σ_w² mean_i φ'(h^L_i)², input scaled so h¹ has variance q*."""
    a = vg.activation(act)

    def member(k):
        kw, kx = jax.random.split(k)
        p = vg.init_mlp(kw, [N_SIM] * (DEPTH + 1), sigma_w2=s2, sigma_b2=b2, dtype=jnp.float32)
        u = jax.random.normal(kx, (N_SIM,), jnp.float32)
        x = jnp.sqrt((q - b2) / s2) * u * jnp.sqrt(N_SIM / jnp.sum(u * u))
        h = vg.preactivations(p, x, a)[-1].astype(jnp.float64)
        return jnp.mean(h * h), s2 * jnp.mean(a.deriv(h) ** 2)

    return [np.asarray(v) for v in jax.lax.map(member, jax.random.split(key, MEMBERS))]


@functools.partial(jax.jit, static_argnames="act")
def _derivs(s2, b2, q, *, act):
    F = lambda t: mf.length_map(t, act, s2, b2)
    k = lambda t: mf.kappa(act, t)
    m2 = mf.gauss_expectation(lambda h: act.fn(h) ** 2, q)
    m4 = mf.gauss_expectation(lambda h: act.fn(h) ** 4, q)
    return (jax.grad(F)(q), jax.grad(jax.grad(F))(q), m4 - m2**2, jax.grad(k)(q), jax.grad(jax.grad(k))(q))


def _bias(act, s2, b2, q):
    """Delta-method finite-width bias after DEPTH layers: each layer's q̂ = F(q̂) + noise of
    variance V = σ_w⁴ Var φ(√q z)²/n, so Var q̂ ≤ V/(1 − F'²), E q̂_L − q* ≈ Σ ½F''·Var and
    E χ̂ − χ₁ ≈ σ_w²(κ'·bias_q + ½|κ''|·Var)."""
    d1, d2, v, k1, k2 = (float(x) for x in _derivs(s2, b2, q, act=vg.activation(act)))
    var = s2**2 * v / N_SIM / max(1 - d1**2, 1e-3)
    bq = DEPTH * 0.5 * abs(d2) * var
    return bq, s2 * (abs(k1) * bq + 0.5 * abs(k2) * var)


def _check_point(act, s2, b2, key, n_checks):
    m = mf.mean_field(act, s2, b2)
    q, chi = float(m.qstar), float(m.chi1)
    assert math.isfinite(q) and q > 0
    qs, chis = _simulate(act, s2, b2, q, key)
    bq, bc = _bias(act, s2, b2, q)
    k = vg.bonferroni_k(0.001, n_checks)
    for est, pred, bias in [(qs, q, bq), (chis, chi, bc)]:
        mean, se = est.mean(), est.std(ddof=1) / math.sqrt(est.size)
        tol = k * se + bias
        assert abs(mean - pred) <= tol, (act, s2, b2, mean, pred, se, bias)
        assert abs(mean - 1.1 * pred) > tol, ("planted ×1.1 not rejected", act, s2, b2, mean, pred, tol)


FAST = [("tanh", 1.5, 0.1), ("relu", 1.5, 0.1)]  # every built-in on a grid: the @slow variant
FULL = [(name, s2, b2) for name in vg.ACTIVATIONS for s2 in (0.8, 1.5, 2.5) for b2 in (0.05, 0.3)]


@pytest.mark.parametrize("act,s2,b2", FAST)
def test_theory_vs_width_1024(act, s2, b2):
    _check_point(act, s2, b2, jax.random.key(7), 2 * (len(FAST) + 1))


def test_callable_theory_vs_width_1024():
    _check_point(lambda x: x * jax.nn.sigmoid(1.702 * x), 1.5, 0.1, jax.random.key(8), 2 * (len(FAST) + 1))


@pytest.mark.slow
@pytest.mark.parametrize("act,s2,b2", FULL)
def test_theory_vs_width_1024_full(act, s2, b2):
    if not math.isfinite(float(mf.qstar(act, s2, b2))):
        pytest.skip("exploding: no finite fixed point to simulate at")
    _check_point(act, s2, b2, jax.random.key(11), 2 * len(FULL))


def test_planted_wrong_theory_is_rejected():
    """The simulation check has power: a mean field computed with the wrong σ_w² (×1.15) fails."""
    s2, b2 = 1.5, 0.1
    q_true = float(mf.qstar("tanh", s2, b2))
    qs, _ = _simulate("tanh", s2, b2, q_true, jax.random.key(9))
    wrong = float(mf.qstar("tanh", 1.15 * s2, b2))
    k = vg.bonferroni_k(0.001, 1)
    se = qs.std(ddof=1) / math.sqrt(qs.size)
    assert abs(qs.mean() - wrong) > k * se + _bias("tanh", s2, b2, q_true)[0]
