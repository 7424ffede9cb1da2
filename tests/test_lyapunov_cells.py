"""RNN/LSTM/GRU step functions, BPTT in log domain, and the Lyapunov closed forms."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import digamma

jax.config.update("jax_enable_x64", True)  # also set by tests/conftest.py

from vgtheory._bptt import bptt_gradient_norms
from vgtheory._lyapunov import lyapunov_spectrum
from vgtheory._rnn import (
    gru_step,
    init_gru,
    init_lstm,
    init_rnn,
    lstm_forget_gate,
    lstm_step,
    recurrent_matrix,
    rnn_step,
)
from vgtheory.theory._lyapunov_theory import (
    gaussian_product_exponents,
    lstm_forget_log_rate,
    rnn_mean_field_exponent,
)

F64 = jnp.float64
N, D = 6, 2


def cells(dtype=F64):
    k = jax.random.PRNGKey(0)
    return {
        "rnn": (rnn_step, init_rnn(k, N, D, gain=1.5, dtype=dtype), N),
        "relu": (functools.partial(rnn_step, activation="relu"), init_rnn(k, N, D, gain=1.0, dtype=dtype), N),
        "lstm": (lstm_step, init_lstm(k, N, D, forget_bias=1.0, dtype=dtype), 2 * N),
        "gru": (gru_step, init_gru(k, N, D, dtype=dtype), N),
    }


def test_cells_wrap_flax():
    k = jax.random.PRNGKey(0)
    p = init_lstm(k, N, D, forget_bias=2.0, dtype=F64)
    c, h = jnp.arange(N, dtype=F64) / N, -jnp.arange(N, dtype=F64) / N
    x = jnp.ones(D, F64)
    (c2, h2), _ = nn.LSTMCell(N).apply(p.variables, (c, h), x)
    np.testing.assert_allclose(lstm_step(p, jnp.concatenate([c, h]), x), jnp.concatenate([c2, h2]))
    a = x @ p.variables["params"]["if"]["kernel"] + h @ p.variables["params"]["hf"]["kernel"]
    np.testing.assert_allclose(
        lstm_forget_gate(p, jnp.concatenate([c, h]), x), jax.nn.sigmoid(a + p.variables["params"]["hf"]["bias"])
    )
    g = init_gru(k, N, D, dtype=F64)
    np.testing.assert_allclose(gru_step(g, h, x), nn.GRUCell(N).apply(g.variables, h, x)[0])


def test_recurrent_inits():
    o = recurrent_matrix(jax.random.PRNGKey(1), 8, gain=2.0, init="orthogonal", dtype=F64)
    np.testing.assert_allclose(o.T @ o, 4.0 * np.eye(8), atol=1e-12)
    w = recurrent_matrix(jax.random.PRNGKey(1), 400, gain=1.0, dtype=F64)
    assert abs(float(jnp.mean(w**2)) * 400 - 1.0) < 0.02
    with pytest.raises(ValueError, match="init"):
        recurrent_matrix(jax.random.PRNGKey(1), 4, init="xavier")


def test_stable_tanh_derivative_nonzero_in_float32():
    p = init_rnn(jax.random.PRNGKey(0), 4, gain=1.0, dtype=jnp.float32)._replace(b=jnp.full((4,), 12.0, jnp.float32))
    j = jax.jacfwd(lambda h: rnn_step(p, h))(jnp.zeros(4, jnp.float32))
    assert np.all(np.abs(np.diag(np.asarray(j))[np.abs(np.diag(np.asarray(p.w))) > 1e-3]) > 0)


@pytest.mark.parametrize("name", ["rnn", "relu", "lstm", "gru"])
def test_bptt_matches_dense_jacobian_chain(name):
    step, p, m = cells()[name]
    t = 12
    xs = jax.random.normal(jax.random.PRNGKey(2), (t, D), F64)
    h0 = 0.1 * jnp.ones(m, F64)
    cot = jnp.linspace(-1.0, 1.0, m).astype(F64)
    r = jax.jit(lambda p, h, x: bptt_gradient_norms(step, p, h, x, steps=t, cotangent=cot))(p, h0, xs)
    h, hs = h0, []
    for i in range(t):
        hs.append(h)
        h = step(p, h, xs[i])
    g, ref = cot, [np.log(np.linalg.norm(cot))]
    for i in reversed(range(t)):
        g = jax.jacrev(lambda hh: step(p, hh, xs[i]))(hs[i]).T @ g
        with np.errstate(divide="ignore"):  # dead ReLUs: the exact gradient is 0, log = −inf
            ref.append(np.log(np.linalg.norm(g)))
    np.testing.assert_allclose(r.log_sq_norms, 2 * np.array(ref[::-1]), atol=2e-10)
    np.testing.assert_array_equal(r.lag, np.arange(t, -1, -1))


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_bptt_long_horizon_finite_in_float32(name):
    step, p, m = cells(jnp.float32)[name]
    t = 10_000
    r = jax.jit(lambda p: bptt_gradient_norms(step, p, 0.1 * jnp.ones(m, jnp.float32), steps=t))(p)
    assert r.log_sq_norms.dtype == jnp.float32 and bool(r.finite)
    assert np.all(np.isfinite(np.asarray(r.log_sq_norms)))
    if name == "rnn":  # gain 1.5, chaotic: log-norm ≈ −T·λ₁ with λ₁ ≈ 0.06
        assert abs(float(r.log_sq_norms[0])) > 200  # far outside float32's range as a plain number


def test_lstm_gru_spectra_sum_to_log_det():
    for name in ("lstm", "gru"):
        step, p, m = cells()[name]
        t = 8
        xs = jax.random.normal(jax.random.PRNGKey(3), (t, D), F64)
        h0 = 0.2 * jnp.ones(m, F64)
        r = jax.jit(lambda p, h, x: lyapunov_spectrum(step, p, h, x, steps=t))(p, h0, xs)

        def body(h, x):
            return step(p, h, x), jnp.linalg.slogdet(jax.jacfwd(lambda hh: step(p, hh, x))(h))[1]

        ld = jax.jit(lambda h, x: jax.lax.scan(body, h, x)[1])(h0, xs)
        np.testing.assert_allclose(float(jnp.sum(r.exponents)), float(jnp.mean(ld)), atol=1e-9)


def test_bptt_bad_input():
    step, p, m = cells()["rnn"]
    with pytest.raises(ValueError, match="steps"):
        bptt_gradient_norms(step, p, jnp.ones(m), steps=0)
    with pytest.raises(ValueError, match="step"):
        bptt_gradient_norms(lambda p, h, x: h[:2], p, jnp.ones(m), steps=3)
    with pytest.raises(ValueError, match="cotangent"):
        bptt_gradient_norms(step, p, jnp.ones(m), steps=3, cotangent=jnp.ones(m + 1))


def test_newman_formula():
    n = 5
    lam = np.asarray(gaussian_product_exponents(n, 2.0, F64))
    i = np.arange(1, n + 1)
    np.testing.assert_allclose(lam, 0.5 * (np.log(4.0 / n) + digamma((n - i + 1) / 2)), rtol=1e-12)
    # n = 1: E log|σ z| = ½(log 2σ² + ψ(½)) = log σ − (γ + log 2)/2
    np.testing.assert_allclose(
        float(gaussian_product_exponents(1, 1.0, F64)[0]), -(np.euler_gamma + np.log(2.0)) / 2, rtol=1e-12
    )
    with pytest.raises(ValueError, match="n"):
        gaussian_product_exponents(0)


def test_mean_field_exponent_and_forget_rate():
    for g in (0.5, 0.8):  # ordered phase: q* = 0, λ = log g
        np.testing.assert_allclose(float(rnn_mean_field_exponent(g)), np.log(g), atol=1e-10)
    assert float(rnn_mean_field_exponent(1.3)) > 0
    z = np.random.default_rng(0).normal(size=400_000)
    mc = np.mean(-np.logaddexp(0.0, -(1.0 + np.sqrt(0.5) * z)))
    np.testing.assert_allclose(float(lstm_forget_log_rate(1.0, 0.5)), mc, atol=3e-3)
