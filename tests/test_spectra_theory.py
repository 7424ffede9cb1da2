"""Random-matrix closed forms against integrals, exact enumeration and small simulations."""

import math

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np
import pytest
from scipy import special

from vgtheory.theory import _rmt


def test_digamma_trigamma():
    x = np.array([0.3, 1.0, 4.5, 30.0])
    np.testing.assert_allclose(_rmt._digamma(x), special.digamma(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_rmt._trigamma(x), special.polygamma(1, x), rtol=1e-10)


@pytest.mark.parametrize("c", [0.25, 0.5, 1.0])
def test_mp_density_moments(c):
    lo, hi = (1 - math.sqrt(c)) ** 2, (1 + math.sqrt(c)) ** 2
    # x = lo + (hi − lo) sin²φ makes ρ(x) dx smooth and π-periodic in φ (even at c = 1,
    # where ρ ~ x^{-1/2}): the midpoint rule over a period is then spectrally accurate
    th = (np.arange(4000) + 0.5) * np.pi / 4000  # midpoint rule: never on an edge
    x = lo + (hi - lo) * np.sin(th) ** 2
    w = np.asarray(_rmt.marchenko_pastur_density(x, c)) * 2 * (hi - lo) * np.abs(np.sin(th) * np.cos(th)) / 2
    mom = _rmt.marchenko_pastur_moments(3, c)
    assert np.sum(w) * np.pi / 4000 == pytest.approx(1.0, abs=1e-6)
    for k in (1, 2, 3):
        assert np.sum(w * x**k) * np.pi / 4000 == pytest.approx(mom[k - 1], rel=1e-6)


def test_fuss_catalan_special_cases():
    assert [_rmt.fuss_catalan(k, 1) for k in range(1, 6)] == [1, 2, 5, 14, 42]  # Catalan
    assert all(_rmt.fuss_catalan(2, s) == s + 1 for s in range(1, 6))
    np.testing.assert_allclose(_rmt.marchenko_pastur_moments(4, 1.0), [1, 2, 5, 14])


def test_gaussian_product_recursion_exact_small_n():
    # n = 1: P is a product of scalars N(0,1): E P⁴ = 3^L, (E P²)² = 1
    r = _rmt.gaussian_product_moments(1, 3)
    assert r.m2 == pytest.approx(27.0) and r.m1_sq == pytest.approx(27.0)
    # n → ∞: m2 → L + 1 (Fuss–Catalan)
    assert _rmt.gaussian_product_moments(10**7, 4).m2 == pytest.approx(5.0, rel=1e-5)


def test_gaussian_product_recursion_monte_carlo():
    rng = np.random.default_rng(0)
    n, L, N = 3, 2, 40000
    w = rng.standard_normal((N, L, n, n)) / np.sqrt(n)
    p = np.einsum("bij,bjk->bik", w[:, 1], w[:, 0])
    a = np.einsum("bij,bkj->bik", p, p)
    m1 = np.trace(a, axis1=1, axis2=2) / n
    m2 = np.einsum("bij,bji->b", a, a) / n
    ex = _rmt.gaussian_product_moments(n, L)
    assert abs(m2.mean() - ex.m2) < 5 * m2.std() / np.sqrt(N)
    assert abs((m1**2).mean() - ex.m1_sq) < 5 * (m1**2).std() / np.sqrt(N)


def test_wishart_finite_moments_monte_carlo():
    rng = np.random.default_rng(1)
    p, n, N = 3, 5, 40000
    x = rng.standard_normal((N, p, n))
    s = np.einsum("bij,bkj->bik", x, x) / n
    t3 = np.einsum("bij,bjk,bki->b", s, s, s) / p
    assert abs(t3.mean() - _rmt.wishart_moments_finite(3, p, n)[2]) < 5 * t3.std() / np.sqrt(N)


def test_isometry_linear():
    g = _rmt.isometry_moments(7, "gaussian", "linear")
    o = _rmt.isometry_moments(7, "orthogonal", "linear")
    assert (g.mean, o.mean) == pytest.approx((1.0, 1.0))
    assert g.variance == pytest.approx(7.0) and o.variance == pytest.approx(0.0, abs=1e-12)


def test_near_identity_small_eps_expansion():
    eps, n = 0.05, 16
    r = _rmt.near_identity_log_rate(eps, n, normalised=False)
    assert r.mean == pytest.approx(eps**2 * (1 - 2 / n), rel=2e-2)
    assert r.variance == pytest.approx(4 * eps**2 / n, rel=2e-2)
    rn = _rmt.near_identity_log_rate(eps, n)
    assert rn.mean == pytest.approx(r.mean - math.log1p(eps**2), rel=1e-12)
    assert rn.mean < 0 < r.mean


def test_near_identity_monte_carlo():
    rng = np.random.default_rng(2)
    eps, n, N = 0.7, 6, 200000
    z = rng.standard_normal((N, n)) * eps / np.sqrt(n)
    z[:, 0] += 1.0
    v = np.log(np.sum(z**2, axis=1))
    r = _rmt.near_identity_log_rate(eps, n, normalised=False)
    assert abs(v.mean() - r.mean) < 5 * v.std() / np.sqrt(N)
    assert v.var() == pytest.approx(r.variance, rel=2e-2)


def test_relu_log_moments_asymptotics_and_enumeration():
    r = _rmt.relu_log_norm_moments(2000)
    assert r.variance * 2000 == pytest.approx(5.0, rel=1e-2)
    assert r.mean * 2000 == pytest.approx(-2.5, rel=2e-2)
    # n = 1: K = 1 always (conditioned), ratio 2χ²₁: E log = log 2 + log 2 + ψ(1/2)
    r1 = _rmt.relu_log_norm_moments(1)
    assert r1.mean == pytest.approx(2 * math.log(2) + special.digamma(0.5))
    assert r1.variance == pytest.approx(special.polygamma(1, 0.5))
    assert _rmt.hanin_nica_log_variance([10, 20]) == pytest.approx(0.75)


@pytest.mark.parametrize(
    "call",
    [
        lambda: _rmt.marchenko_pastur_moments(0, 0.5),
        lambda: _rmt.marchenko_pastur_density(1.0, -1.0),
        lambda: _rmt.fuss_catalan(2, 0),
        lambda: _rmt.wishart_moments_finite(4, 2, 2),
        lambda: _rmt.gaussian_product_moments(0, 2),
        lambda: _rmt.isometry_moments(3, "uniform"),
        lambda: _rmt.near_identity_log_rate(-0.1, 4),
        lambda: _rmt.hanin_nica_log_variance([0, 3]),
    ],
)
def test_bad_input(call):
    with pytest.raises(ValueError):
        call()
