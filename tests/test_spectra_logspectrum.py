"""Log-singular values of long products: mpmath references, float64 SVD, depth 10^4."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from vgtheory._logspectrum import (
    graded_log_svd,
    log_singular_values,
    log_singular_values_scan,
)

_jit_lsv = jax.jit(log_singular_values)


def mp_log_sv(factors, dps=250):
    """log σ_i(M_L ⋯ M_1) in mpmath at ``dps`` digits (independent reference)."""
    with mp.workdps(dps):
        P = mp.eye(factors.shape[1])
        for f in factors:
            P = mp.matrix(f.tolist()) * P
        s = mp.svd_r(P, compute_uv=False)
        return np.array(sorted((float(mp.log(v)) for v in s), reverse=True))


def _factors(rng, L, n, aniso=1.0):
    f = rng.standard_normal((L, n, n)) / np.sqrt(n)
    f[:, :, 0] *= aniso
    return f


@pytest.mark.parametrize("n,L,aniso", [(3, 150, 1.0), (5, 100, 3.0), (8, 60, 1.5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_against_mpmath(n, L, aniso, dtype):
    rng = np.random.default_rng(n * 1000 + L)
    f = _factors(rng, L, n, aniso).astype(dtype)
    ref = mp_log_sv(f.astype(np.float64))
    r = _jit_lsv(jnp.asarray(f))
    assert r.log_sv.dtype == dtype
    assert bool(r.finite) and bool(r.converged)
    rel = np.max(np.abs(np.asarray(r.log_sv, np.float64) - ref) / np.abs(ref))
    assert rel < (1e-4 if dtype == np.float32 else 1e-10), rel


@settings(max_examples=5, deadline=None)
@given(n=st.integers(1, 5), L=st.integers(1, 4), seed=st.integers(0, 2**31 - 1))
def test_short_products_match_float64_svd(n, L, seed):
    rng = np.random.default_rng(seed)
    f = _factors(rng, L, n)
    p = np.eye(n)
    for m in f:
        p = m @ p
    ref = np.log(np.linalg.svd(p, compute_uv=False))
    r = log_singular_values(jnp.asarray(f))
    np.testing.assert_allclose(np.asarray(r.log_sv), ref, atol=1e-9 * (1 + np.abs(ref).max()))


def test_depth_ten_thousand_float32_finite_and_matches_float64():
    rng = np.random.default_rng(7)
    f = _factors(rng, 10_000, 4)
    r32 = _jit_lsv(jnp.asarray(f, jnp.float32))
    r64 = _jit_lsv(jnp.asarray(f, jnp.float64))
    assert bool(r32.finite) and bool(r32.converged)
    assert np.all(np.isfinite(np.asarray(r32.log_sv)))
    # |log σ| ~ 10^3–10^4: far outside float32's exponent range, yet relative error ≤ 1e-4
    ref = np.asarray(r64.log_sv)
    assert np.abs(ref).min() > 500
    np.testing.assert_allclose(np.asarray(r32.log_sv), ref, rtol=1e-4)
    # long products: the QR sums (Lyapunov) agree with the log-singular values to O(1)
    assert np.max(np.abs(np.asarray(r64.qr_sums) - ref)) < 20


def test_exact_diagonal_product():
    d = jnp.array([2.0, 1.1, 0.9, 0.5], jnp.float32)
    m = jnp.broadcast_to(jnp.diag(d), (10_000, 4, 4))  # same shape as the depth test: no recompile
    r = _jit_lsv(m)
    np.testing.assert_allclose(np.asarray(r.log_sv), 10_000 * np.log(np.asarray(d, np.float64)), rtol=1e-6, atol=1e-3)


def test_scan_form_matches_stacked():
    rng = np.random.default_rng(3)
    f = jnp.asarray(_factors(rng, 40, 5))

    def step(c, m):
        return c + 1, m

    c, r = jax.jit(lambda f: log_singular_values_scan(step, 0, f))(f)
    assert int(c) == 40
    np.testing.assert_allclose(np.asarray(r.log_sv), np.asarray(log_singular_values(f).log_sv), rtol=1e-12)

    # factors generated on the fly (never stored): keys in the carry
    def gen(key, _):
        key, sub = jax.random.split(key)
        return key, jax.random.normal(sub, (4, 4), jnp.float64) / 2.0

    _, r2 = log_singular_values_scan(gen, jax.random.key(0), length=30)
    assert bool(r2.finite) and r2.log_sv.shape == (4,)


def test_singular_factor_is_flagged():
    f = np.stack([np.eye(3)] * 5)
    f[2, 1] = 0.0  # rank-deficient factor
    r = log_singular_values(jnp.asarray(f))
    assert not bool(r.finite)
    assert np.isneginf(np.asarray(r.log_sv)[-1])


def test_graded_log_svd_matches_dense():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 6))
    ell = np.array([30.0, 10.0, 0.0, -5.0, -20.0, -40.0])
    ref = mp_log_sv(np.diag(np.exp(ell)) @ x[None])  # one factor
    out, conv, _ = graded_log_svd(jnp.asarray(x), jnp.asarray(ell))
    assert bool(conv)
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("bad", [np.zeros((3, 3)), np.zeros((2, 3, 4)), np.zeros((0, 3, 3))])
def test_bad_shapes(bad):
    with pytest.raises(ValueError, match="factors"):
        log_singular_values(jnp.asarray(bad))


def test_bad_dtype_and_length():
    with pytest.raises(TypeError, match="factors"):
        log_singular_values(jnp.zeros((2, 3, 3), jnp.int32))
    with pytest.raises(ValueError, match="length"):
        log_singular_values_scan(lambda c, x: (c, jnp.eye(2)), 0, length=0)
    with pytest.raises(ValueError, match="square"):
        log_singular_values_scan(lambda c, x: (c, jnp.zeros((2, 3))), 0, length=3)


def test_vmap_over_an_ensemble():
    f = jax.random.normal(jax.random.key(0), (3, 10, 3, 3), jnp.float64)
    r = jax.jit(jax.vmap(log_singular_values))(f)
    for i in range(3):
        p = np.eye(3)
        for m in np.asarray(f[i]):
            p = m @ p
        np.testing.assert_allclose(np.asarray(r.log_sv[i]), np.log(np.linalg.svd(p, compute_uv=False)), atol=1e-9)
    assert np.asarray(r.finite).all()
