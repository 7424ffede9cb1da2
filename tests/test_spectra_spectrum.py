"""Singular values, moments and densities against float64 numpy references."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from vgtheory._spectrum import (
    condition_number,
    jjt_moments,
    resolve_method,
    singular_values,
    spectral_density,
    spectrum,
)

METHODS = ["svd", "gram", "rayleigh", "jacobi"]


def graded(rng, b, m, n, lo=-6.0):
    """Batch of m×n matrices with singular values logspace(0, lo) (κ = 10^{-lo})."""
    k = min(m, n)
    out = []
    for _ in range(b):
        u, _ = np.linalg.qr(rng.standard_normal((m, k)))
        v, _ = np.linalg.qr(rng.standard_normal((n, k)))
        s = np.logspace(0, lo, k) * np.exp(0.1 * rng.standard_normal(k))
        out.append((u * s) @ v.T)
    return np.stack(out).astype(np.float32)


def rel_err(s, ref, thr):
    mask = ref >= thr * ref[..., :1]
    return np.max(np.abs(np.asarray(s, np.float64) - ref)[mask] / ref[mask])


@pytest.mark.parametrize("method", METHODS)
def test_accuracy_float32_vs_float64(method):
    rng = np.random.default_rng(0)
    a = graded(rng, 4, 24, 24, lo=-7.0)
    ref = np.linalg.svd(a.astype(np.float64), compute_uv=False)
    s = jax.jit(lambda a: singular_values(a, method=method))(jnp.asarray(a))
    assert s.dtype == jnp.float32 and s.shape == (4, 24)
    assert rel_err(s, ref, 1e-3) < 1e-4
    if method != "gram":  # gram squares κ: accurate only down to ~1e-6·σ_max (documented)
        assert rel_err(s, ref, 1e-6) < 1e-4
    else:
        assert rel_err(s, ref, 1e-5) < 1e-4


@settings(max_examples=6, deadline=None)
@given(
    m=st.integers(1, 9),
    n=st.integers(1, 9),
    b=st.integers(1, 3),
    method=st.sampled_from(METHODS),
    seed=st.integers(0, 2**31 - 1),
)
def test_random_shapes(m, n, b, method, seed):
    a = np.random.default_rng(seed).standard_normal((b, m, n))
    ref = np.linalg.svd(a, compute_uv=False)
    s = singular_values(jnp.asarray(a), method=method)
    assert s.shape == (b, min(m, n)) and s.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(s), ref, rtol=1e-7, atol=1e-7 * ref.max())


def test_float64_reference_quality():
    a = jnp.asarray(np.random.default_rng(1).standard_normal((5, 16, 16)))
    ref = np.linalg.svd(np.asarray(a), compute_uv=False)
    for m in ("svd", "rayleigh", "jacobi"):
        np.testing.assert_allclose(np.asarray(singular_values(a, method=m)), ref, rtol=1e-12)


def test_auto_resolves():
    assert resolve_method("auto", (8, 8)) == "svd"  # CPU
    assert resolve_method("jacobi", (8, 8)) == "jacobi"
    with pytest.raises(ValueError, match="method"):
        resolve_method("qr", (8, 8))


def test_moments_trace_vs_singular_values():
    a = jnp.asarray(np.random.default_rng(2).standard_normal((3, 10, 7)))
    r1 = jax.jit(lambda a: jjt_moments(a, 3))(a)
    r2 = jjt_moments(a, 3, method="svd")
    np.testing.assert_allclose(np.asarray(r1.moments), np.asarray(r2.moments), rtol=1e-10)
    jj = np.einsum("bik,bjk->bij", np.asarray(a), np.asarray(a))
    m2 = np.trace(jj @ jj, axis1=1, axis2=2) / 10
    np.testing.assert_allclose(np.asarray(r1.moments[:, 1]), m2, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(r1.variance), m2 - np.asarray(r1.mean) ** 2, rtol=1e-12)


def test_condition_and_spectrum_flags():
    a = jnp.stack([jnp.diag(jnp.array([4.0, 2.0, 0.5])), jnp.full((3, 3), jnp.nan)])
    r = spectrum(a, method="svd")
    assert np.asarray(r.finite).tolist() == [True, False]
    assert float(r.condition[0]) == pytest.approx(8.0)
    assert np.isnan(np.asarray(r.singular_values[1])).all()
    assert float(condition_number(a[0])) == pytest.approx(8.0)
    np.testing.assert_allclose(np.asarray(r.log_singular_values[0]), np.log([4.0, 2.0, 0.5]))


def test_density_normalised():
    d = spectral_density(np.random.default_rng(3).standard_normal(5000) ** 2, bins=40)
    assert float(jnp.sum(d.density * jnp.diff(d.edges))) == pytest.approx(1.0)
    assert d.centers.shape == (40,)


@pytest.mark.parametrize(
    "bad,exc,match",
    [
        (np.zeros(3), ValueError, "a"),
        (np.zeros((2, 2), np.int32), TypeError, "floating"),
        (np.zeros((0, 3)), ValueError, "non-empty"),
    ],
)
def test_bad_input(bad, exc, match):
    with pytest.raises(exc, match=match):
        singular_values(jnp.asarray(bad))


def test_bad_arguments():
    with pytest.raises(ValueError, match="method"):
        singular_values(jnp.eye(3), method="nope")
    with pytest.raises(ValueError, match="k"):
        jjt_moments(jnp.eye(3), 1)
    with pytest.raises(ValueError, match="bins"):
        spectral_density(np.ones(3), bins=0)
    with pytest.raises(ValueError, match="value_range"):
        spectral_density(np.ones(3), value_range=(1.0, 0.0))
