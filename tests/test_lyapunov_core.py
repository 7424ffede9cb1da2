"""Known-answer tests of the QR/Benettin Lyapunov spectrum (vgtheory._lyapunov)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

jax.config.update("jax_enable_x64", True)  # also set by tests/conftest.py

from vgtheory._lyapunov import (
    ILL_CONDITIONED,
    NONFINITE,
    OK,
    log_volume_growth,
    lyapunov_spectrum,
    reortho_for_spread,
)
from vgtheory._rnn import init_rnn, rnn_step

F64 = jnp.float64


def linear(a, h, x):
    return jnp.matmul(a, h, precision="highest")


def tanh_rnn(n, gain, seed=0, dtype=F64, n_in=1):
    p = init_rnn(jax.random.PRNGKey(seed), n, n_in, gain=gain, dtype=dtype)
    h0 = 0.3 * jax.random.normal(jax.random.PRNGKey(seed + 100), (n,), dtype)
    return p, h0


@pytest.mark.parametrize("method", ["cholesky", "householder"])
@pytest.mark.parametrize("reortho", [1, 3])
def test_diagonal_map_exact(method, reortho):
    d = jnp.array([3.0, -1.5, 0.7, 0.2], F64)
    f = jax.jit(lambda a, h: lyapunov_spectrum(linear, a, h, steps=30, reortho=reortho, method=method))
    r = f(jnp.diag(d), jnp.ones(4, F64))
    np.testing.assert_allclose(r.exponents, np.log(np.abs(d)), atol=1e-12)
    assert int(r.status) == OK
    np.testing.assert_allclose(r.se, 0.0, atol=1e-12)


@functools.partial(jax.jit, static_argnames="k")
def _orth_spectrum(a, k):
    return lyapunov_spectrum(linear, a, jnp.ones(6, F64), steps=40, k=k, reortho=2)


@given(seed=st.integers(0, 10_000), scale=st.floats(0.3, 3.0), k=st.sampled_from([2, 6]))
@settings(max_examples=10, deadline=None)
def test_orthogonal_map_exact(seed, scale, k):
    o, _ = jnp.linalg.qr(jax.random.normal(jax.random.PRNGKey(seed), (6, 6), F64))
    r = _orth_spectrum(scale * o, k)
    np.testing.assert_allclose(r.exponents, np.full(k, np.log(scale)), atol=1e-10)


def _jacobians(p, h0, steps):
    def body(h, _):
        j = jax.jacfwd(lambda hh: rnn_step(p, hh))(h)
        return rnn_step(p, h), j

    _, js = jax.lax.scan(body, h0, None, length=steps)
    return js


def test_sum_is_mean_log_det_and_short_products_match_dense():
    n, t = 12, 15
    p, h0 = tanh_rnn(n, 1.3)
    r = jax.jit(lambda p, h: lyapunov_spectrum(rnn_step, p, h, steps=t, reortho=1))(p, h0)
    js = np.asarray(_jacobians(p, h0, t))
    logdet = np.mean([np.linalg.slogdet(j)[1] for j in js])
    np.testing.assert_allclose(float(log_volume_growth(r)[-1]), logdet, atol=1e-10)
    prod = np.eye(n)
    for j in js:
        prod = j @ prod
    rr = np.abs(np.diag(np.linalg.qr(prod)[1]))
    tol = 1e-12 * np.linalg.cond(prod)  # the dense reference resolves the bottom only to ε·cond
    np.testing.assert_allclose(np.asarray(r.exponents) * t, np.log(rr), atol=max(tol, 1e-10))
    sv = np.linalg.svd(prod, compute_uv=False)
    cum_qr, cum_sv = np.cumsum(np.log(rr)), np.cumsum(np.log(sv))
    assert np.all(cum_qr <= cum_sv + max(tol, 1e-10))  # volumes of a frame ≤ top singular volumes
    np.testing.assert_allclose(cum_qr[-1], cum_sv[-1], atol=max(tol, 1e-10))


def test_float32_matches_float64_on_input_driven_rnn():
    n, t = 24, 200
    p64, h64 = tanh_rnn(n, 0.9, n_in=3)
    xs = jax.random.normal(jax.random.PRNGKey(7), (t, 3), F64)
    p32 = jax.tree_util.tree_map(lambda a: a.astype(jnp.float32), p64)
    f = jax.jit(lambda p, h, x: lyapunov_spectrum(rnn_step, p, h, x, steps=t, warmup=20, reortho=2))
    r64 = f(p64, h64, xs)
    r32 = f(p32, h64.astype(jnp.float32), xs.astype(jnp.float32))
    assert r32.exponents.dtype == jnp.float32 and r64.exponents.dtype == F64
    np.testing.assert_allclose(np.asarray(r32.exponents, np.float64), r64.exponents, atol=1e-3)


def test_interval_independent_within_se():
    n, t = 16, 480
    p, h0 = tanh_rnn(n, 1.4, seed=3)
    out = {}
    for r in (1, 2, 4):
        out[r] = jax.jit(lambda p, h, r=r: lyapunov_spectrum(rnn_step, p, h, steps=t, warmup=80, reortho=r, blocks=8))(
            p, h0
        )
        assert int(out[r].status) == OK
    se = np.asarray(out[1].se)
    assert np.all(np.isfinite(se)) and np.all(se > 0)
    for r in (2, 4):
        assert np.all(np.abs(np.asarray(out[r].exponents) - np.asarray(out[1].exponents)) <= se)
    assert out[1].running.shape == (8, n) and out[1].finite_time.shape == (8, n)
    np.testing.assert_allclose(out[1].running[-1], out[1].exponents, atol=1e-12)
    np.testing.assert_allclose(np.mean(out[1].finite_time, axis=0), out[1].exponents, atol=1e-12)


def test_warmup_remainder_and_vmap_over_seeds():
    n, t = 8, 25
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    ps = jax.vmap(lambda k: init_rnn(k, n, gain=1.2, dtype=F64))(keys)
    h0 = 0.3 * jnp.ones((3, n), F64)
    f = functools.partial(lyapunov_spectrum, rnn_step, steps=t, warmup=7, reortho=3, k=4)
    batched = jax.jit(jax.vmap(f))(ps, h0)
    fj = jax.jit(f)
    for i in range(3):
        single = fj(jax.tree_util.tree_map(lambda a: a[i], ps), h0[i])
        np.testing.assert_allclose(batched.exponents[i], single.exponents, atol=1e-10)
    assert batched.exponents.shape == (3, 4) and batched.status.shape == (3,)


def test_top_k_matches_full_spectrum_head():
    p, h0 = tanh_rnn(10, 1.5)
    full = jax.jit(lambda p, h: lyapunov_spectrum(rnn_step, p, h, steps=60))(p, h0)
    top = jax.jit(lambda p, h: lyapunov_spectrum(rnn_step, p, h, steps=60, k=3))(p, h0)
    np.testing.assert_allclose(top.exponents, full.exponents[:3], atol=1e-10)


def test_diverging_trajectory_flagged():
    r = lyapunov_spectrum(lambda a, h, x: a * h * h, 10.0, jnp.full(2, 2.0, F64), steps=20)
    assert int(r.status) == NONFINITE


def test_ill_conditioned_interval_flagged():
    d = jnp.array([1.0, 1e-3], F64)  # spread log 1e3 per step, float32 budget log 1e5
    r = lyapunov_spectrum(linear, jnp.diag(d).astype(jnp.float32), jnp.ones(2, jnp.float32), steps=20, reortho=5)
    assert int(r.status) == ILL_CONDITIONED
    assert reortho_for_spread(np.log(1e3), jnp.float32) == 1


def test_bad_input():
    a, h = jnp.eye(3, dtype=F64), jnp.ones(3, F64)
    with pytest.raises(ValueError, match="k"):
        lyapunov_spectrum(linear, a, h, steps=10, k=4)
    with pytest.raises(ValueError, match="steps"):
        lyapunov_spectrum(linear, a, h, steps=10, warmup=10)
    with pytest.raises(ValueError, match="step"):
        lyapunov_spectrum(lambda p, h, x: jnp.concatenate([h, h]), a, h, steps=10)
    with pytest.raises(ValueError, match="reortho"):
        lyapunov_spectrum(linear, a, h, steps=10, reortho=3)
    with pytest.raises(ValueError, match="inputs"):
        lyapunov_spectrum(linear, a, h, jnp.zeros((5, 1)), steps=10)
    with pytest.raises(ValueError, match="h0"):  # a pytree state the step cannot take
        lyapunov_spectrum(linear, a, (jnp.ones(3), jnp.ones(2)), steps=10)
    with pytest.raises(ValueError, match="h0"):
        lyapunov_spectrum(linear, a, jnp.ones(3, jnp.int32), steps=10)
    with pytest.raises(ValueError, match="step"):  # the state's structure must be kept
        lyapunov_spectrum(lambda p, h, x: h[0], a, (h, h), steps=10)
    with pytest.raises(ValueError, match="method"):
        lyapunov_spectrum(linear, a, h, steps=10, method="svd")
    with pytest.raises(ValueError, match="spread_per_step"):
        reortho_for_spread(float("nan"))
