"""Mean-field closed forms against independent references; theory vs simulation properties."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import integrate

import vgtheory as vg
from vgtheory.theory import _meanfield as mf


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "erf", "gelu", "elu"])
@pytest.mark.parametrize("q", [0.1, 1.0, 4.0])
def test_gauss_expectation_vs_scipy(act, q):
    a = vg.activation(act)
    f = lambda z: float(a.fn(jnp.float64(math.sqrt(q) * z))) ** 2 * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    ref = integrate.quad(f, -12, 12, limit=200)[0]
    rtol = 1e-4 if act == "elu" else 1e-7  # ELU'' jumps at 0: Gauss–Hermite converges algebraically there
    np.testing.assert_allclose(float(mf.gauss_expectation(lambda h: a.fn(h) ** 2, q)), ref, rtol=rtol)


def test_relu_and_erf_closed_forms():
    # ReLU: E[relu(√q z)²] = q/2, so q* = σ_b²/(1 − σ_w²/2) and χ₁ = σ_w²/2
    for s2, b2 in [(1.0, 0.5), (1.5, 0.1)]:
        m = vg.theory.mean_field("relu", s2, b2)
        np.testing.assert_allclose(float(m.qstar), b2 / (1 - s2 / 2), rtol=1e-8)
        np.testing.assert_allclose(float(m.chi1), s2 / 2, rtol=1e-12)  # closed form, no quadrature
    # erf: E[erf(√q z)²] = (2/π) arcsin(2q/(1+2q))
    for q in [0.2, 1.0, 3.0]:
        ref = 2 / math.pi * math.asin(2 * q / (1 + 2 * q))
        np.testing.assert_allclose(float(mf.length_map(q, "erf", 1.0, 0.0)), ref, rtol=1e-10)


def test_tanh_critical_line():
    # at σ_b = 0 the tanh boundary is σ_w² = 1 (Poole et al. 2016, Fig. 2): q* = 0 loses
    # stability there; the fixed point is bracketed, not iterated, so it is exact
    np.testing.assert_allclose(float(vg.theory.critical_sigma_w2("tanh", 0.0)), 1.0, atol=1e-12)
    assert float(vg.theory.mean_field("tanh", 2.5, 0.05).cstar) < 1.0  # chaotic: correlations decay
    assert float(vg.theory.mean_field("tanh", 1.2, 0.05).cstar) == 1.0


def test_mean_field_gain_reduces_to_linear():
    np.testing.assert_allclose(float(vg.theory.mean_field_gain("linear", 1.3, 0.0, 1.0, 7)), 1.3**7, rtol=1e-12)
    np.testing.assert_allclose(float(vg.theory.mean_field_gain("relu", 2.0, 0.0, 1.0, 9)), 1.0, rtol=1e-3)


def _gain(key, m, n, L, act, s2):
    def member(k):
        kw, kx, kg = jax.random.split(k, 3)
        p = vg.init_mlp(kw, [n] * (L + 1), sigma_w2=s2, dtype=jnp.float64)
        x = jax.random.normal(kx, (n,), jnp.float64)
        g = jax.random.normal(kg, (n,), jnp.float64)
        gf = vg.gradient_flow(p, x, act, g / jnp.linalg.norm(g))
        return jnp.exp(gf.log_sq_norms[0])

    return np.asarray(jax.jit(jax.vmap(member))(jax.random.split(key, m)))


@settings(max_examples=6, deadline=None, derandomize=True)  # CI reproducible
@given(
    n=st.integers(8, 48),
    L=st.integers(1, 8),
    s2=st.floats(0.5, 2.5),
    act=st.sampled_from(["linear", "relu"]),
    seed=st.integers(0, 2**16),
)
def test_property_gain_theory_vs_simulation(n, L, s2, act, seed):
    """E‖g₀‖² = (σ_w²κ)^L exactly for linear (κ=1) and ReLU (κ=1/2) with an independent cotangent.

    Tolerance: k·SE with k Bonferroni over the examples (k≈3.9 for 6 examples at α=0.001),
    plus the delta-method bias of log(mean); the planted σ^{2(L+1)} is rejected when its
    distance exceeds the tolerance by a margin (checked where the ensemble has the power).
    """
    g = _gain(jax.random.key(seed), 1024, n, L, act, s2)
    kappa = 1.0 if act == "linear" else 0.5
    pred = L * math.log(s2 * kappa)
    est, se = math.log(g.mean()), g.std(ddof=1) / math.sqrt(g.size) / g.mean()
    k = vg.bonferroni_k(0.001, 6)
    bias = g.var(ddof=1) / (2 * g.size * g.mean() ** 2)
    assert abs(est - pred) <= k * se + bias, (est, pred, se)
    planted = (L + 1) * math.log(s2 * kappa)
    if abs(planted - pred) > 2 * (k * se + bias):
        assert abs(est - planted) > k * se + bias
