"""Default Lyapunov settings on the inputs of issue 13 (item 1) and issue 14 (pytree carries).

Each case reproduces an input on which the default ``lyapunov_spectrum`` returned all-NaN
exponents (status 2, no exception) or a false flag on main, in the user's default numerics
(float32, x64 off: CholeskyQR's Gram in float32). Each is checked, under ``jit``, against
the textbook loop written here (dense ``jax.jacfwd`` Jacobian, Y = J Q, Householder QR
every step), and the CholeskyQR-only method still shows the original failure, flagged now
(status 3) instead of silent.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

jax.config.update("jax_enable_x64", True)  # also set by tests/conftest.py

import vgtheory as vg
from vgtheory._lyapunov import (
    CHOLESKY_UNSAFE,
    ILL_CONDITIONED,
    NONFINITE,
    OK,
    STATUS_TEXT,
    lyapunov_spectrum,
)
from vgtheory.theory import gaussian_product_exponents

F32 = jnp.float32


def plain_qr_loop(step, p, h0, xs, steps):
    """λ by the obvious loop: J_t = jacfwd(step), Y = J_t Q, Householder QR, log|R_ii| summed."""
    hf, unravel = ravel_pytree(h0)
    n = hf.shape[0]

    def f(h, x):
        return ravel_pytree(step(p, unravel(h), x))[0]

    def body(c, x):
        h, q, s = c
        j = jax.jacfwd(f)(h, x)
        q, r = jnp.linalg.qr(jnp.matmul(j, q, precision="highest"))
        d = jnp.diagonal(r)
        return (f(h, x), q * jnp.where(d < 0, -1.0, 1.0).astype(q.dtype)[None, :], s + jnp.log(jnp.abs(d))), None

    c0 = (hf, jnp.eye(n, dtype=hf.dtype), jnp.zeros(n, hf.dtype))
    (_, _, s), _ = jax.jit(lambda c, x: jax.lax.scan(body, c, x, length=steps))(c0, xs)
    return np.asarray(s, np.float64) / steps


def _spectrum(step, p, h0, xs, steps, **kw):
    return jax.jit(lambda p, h, x: lyapunov_spectrum(step, p, h, x, steps=steps, **kw))(p, h0, xs)


def _vg_lstm():
    return vg.lstm_step, vg.init_lstm(jax.random.PRNGKey(0), 32, dtype=F32), 0.1 * jnp.ones(64, F32), None


def _flax_lstm():
    cell = nn.LSTMCell(32)
    xs = jax.random.normal(jax.random.PRNGKey(3), (300, 4), F32)
    carry = (0.1 * jnp.ones(32, F32), 0.1 * jnp.ones(32, F32))
    v = cell.init(jax.random.PRNGKey(1), carry, xs[0])
    return (lambda v, c, x: cell.apply(v, c, x)[0]), v, carry, xs


def _flax_gru():
    cell = nn.GRUCell(32)
    xs = jax.random.normal(jax.random.PRNGKey(3), (300, 4), F32)
    v = cell.init(jax.random.PRNGKey(2), jnp.zeros(32, F32), xs[0])
    return (lambda v, c, x: cell.apply(v, c, x)[0]), v, 0.1 * jnp.ones(32, F32), xs


def _matrix_step(_, h, x):
    return jnp.matmul(x, h, precision="highest")


def _newman(t):
    n = 10
    ws = jax.random.normal(jax.random.PRNGKey(0), (t, n, n), F32) / jnp.sqrt(jnp.asarray(n, F32))
    return _matrix_step, None, jnp.ones(n, F32), ws


CASES = {
    "vg_lstm": (_vg_lstm, 300),
    "flax_lstm_carry": (_flax_lstm, 300),
    "flax_gru_driven": (_flax_gru, 300),
    "newman_T200": (lambda: _newman(200), 200),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_default_matches_plain_householder_loop_float32(name):
    make, t = CASES[name]
    step, p, h0, xs = make()
    with jax.enable_x64(False):  # the user's default: the CholeskyQR Gram in float32
        r = _spectrum(step, p, h0, xs, t)
        chol = _spectrum(step, p, h0, xs, t, method="cholesky")
        ref = plain_qr_loop(step, p, h0, xs, t)
    assert int(r.status) == OK and bool(r.state_finite), STATUS_TEXT[int(r.status)]
    e = np.asarray(r.exponents, np.float64)
    top = np.asarray(r.resolved)
    assert top[:8].all()
    np.testing.assert_allclose(e[top], ref[top], atol=1e-3)
    assert int(r.householder_count) > 0  # the fall-back ran where CholeskyQR could not
    # the original failure, still there with CholeskyQR only, now flagged as such
    assert int(chol.status) == CHOLESKY_UNSAFE
    assert "auto" in STATUS_TEXT[CHOLESKY_UNSAFE] and "reortho" not in STATUS_TEXT[CHOLESKY_UNSAFE]


def _newman_check(t):
    step, p, h0, ws = _newman(t)
    with jax.enable_x64(False):
        r = _spectrum(step, p, h0, ws, t, blocks=20)
        ref = plain_qr_loop(step, p, h0, ws, t)
    assert int(r.status) == OK and np.asarray(r.resolved).all()
    e, se = np.asarray(r.exponents, np.float64), np.asarray(r.se, np.float64)
    np.testing.assert_allclose(e, ref, atol=1e-3)
    exact = np.asarray(gaussian_product_exponents(10, 1.0, jnp.float64))
    # one product, 20 blocks: |λ̂ − λ| ≤ 4·SE (Bonferroni over 10 exponents at α ≈ 1e-3; no
    # finite-T bias, the frame is Haar at every step, see vg.theory); planted +0.05 rejected
    k = 4.0
    assert np.all(np.abs(e - exact) <= k * se), (e - exact) / se
    assert np.any(np.abs(e - (exact + 0.05)) > k * se)


def test_newman_float32_short():
    _newman_check(2000)


@pytest.mark.slow
def test_newman_float32_T2e4():
    _newman_check(20_000)


def test_overflowing_linear_state_keeps_exponents():
    n, t = 8, 2000  # σ² = 2: λ₁ ≈ 0.39, the state passes float32's range after ~230 steps
    a = jnp.sqrt(2.0 / n) * jax.random.normal(jax.random.PRNGKey(2), (n, n), F32)
    lin = lambda a, h, x: jnp.matmul(a, h, precision="highest")  # noqa: E731
    with jax.enable_x64(False):
        r = _spectrum(lin, a, jnp.ones(n, F32), None, t)
        ref = plain_qr_loop(lin, a, jnp.ones(n, F32), None, t)
    assert not bool(r.state_finite)  # the state overflowed ...
    assert int(r.status) == OK and np.asarray(r.resolved).all()  # ... the tangent frame did not
    np.testing.assert_allclose(np.asarray(r.exponents, np.float64), ref, atol=1e-3)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_lstm_fixed_point_floor_flags(dtype):
    """At its fixed point the autonomous LSTM's Jacobian has rank N (c ↦ f⊙c, h read off c):
    N directions are contracted exactly, and their 'exponents' are rounding noise (−19.5 in
    float32, −39.5 in float64 on main, reported as values)."""
    n, t = 32, 300
    p = vg.init_lstm(jax.random.PRNGKey(0), n, dtype=dtype)
    h0 = 0.1 * jnp.ones(2 * n, dtype)
    r = _spectrum(vg.lstm_step, p, h0, None, t)
    res, e, fl = np.asarray(r.resolved), np.asarray(r.exponents, np.float64), float(r.floor)
    assert int(r.status) == OK
    assert res[:n].all() and not res[n:].any()
    assert np.all(e[:n] > fl + 5.0) and np.all(np.asarray(r.at_floor)[:n] == 0)
    # the bottom N sit at the floor from the step the state reaches the fixed point on (in
    # float64 after ~110 of the 300 steps: their mean is then still above the mean floor)
    assert np.all(np.asarray(r.at_floor)[n:] > 0.5)
    eps = float(jnp.finfo(dtype).eps)
    assert abs(fl - (np.log(2 * n * eps) + e[0])) < 1.0  # ≈ log(N ε ‖J‖), ‖J‖ ≈ e^{λ₁} here
    ref = plain_qr_loop(vg.lstm_step, p, h0, None, t)
    np.testing.assert_allclose(e[:n], ref[:n], atol=1e-3)


def test_status_advice_is_followable():
    """Status 1 (smaller reortho) only where reortho > 1; at reortho = 1 the ill-conditioned
    single step is the floor's business, not the status's."""
    step, p, h0, _ = _vg_lstm()
    with jax.enable_x64(False):
        for m in ("auto", "householder"):
            assert int(_spectrum(step, p, h0, None, 40, method=m).status) == OK
        r5 = _spectrum(step, p, h0, None, 40, reortho=5)
    assert int(r5.status) == ILL_CONDITIONED and "smaller reortho" in STATUS_TEXT[ILL_CONDITIONED]
    assert int(_spectrum(lambda a, h, x: a * h * h, 10.0, jnp.full(2, 2.0), None, 20).status) == NONFINITE


def test_default_and_householder_agree_eagerly():
    """No jit and no reference loop: the two methods on random small cells, called eagerly."""
    k = jax.random.PRNGKey(5)
    cells = [
        (vg.rnn_step, vg.init_rnn(k, 6, gain=1.6, dtype=F32), 0.3 * jnp.ones(6, F32)),
        (vg.lstm_step, vg.init_lstm(k, 4, forget_bias=1.0, dtype=F32), 0.2 * jnp.ones(8, F32)),
        (vg.gru_step, vg.init_gru(k, 6, dtype=F32), 0.2 * jnp.ones(6, F32)),
    ]
    xs = jax.random.normal(jax.random.PRNGKey(6), (60, 1), F32)
    for step, p, h0 in cells:
        a = lyapunov_spectrum(step, p, h0, xs, steps=60)
        h = lyapunov_spectrum(step, p, h0, xs, steps=60, method="householder")
        ok = np.asarray(a.resolved)
        np.testing.assert_allclose(np.asarray(a.exponents)[ok], np.asarray(h.exponents)[ok], atol=1e-4)
        np.testing.assert_array_equal(ok, np.asarray(h.resolved))


def test_auto_under_vmap_branches_per_batch_and_differentiates():
    """vmap: one member needs Householder (nearly parallel columns: angle deficit log 10⁴ per
    step, past CholeskyQR's float32 budget log 10³), one does not (a diagonal map): each
    equals its own unbatched run; the fall-back stays a cond for the batch (not a select
    running both methods); and the exponents stay differentiable."""
    tri = jnp.array([[0.9, 0.9, 0.0, 0.0], [0.0, 1e-4, 0.0, 0.0], [0.0, 0.0, 0.5, 0.0], [0.0, 0.0, 0.0, 0.3]], F32)
    a = jnp.stack([jnp.diag(jnp.array([0.9, 0.5, 0.2, 0.1], F32)), tri])
    step = lambda a, h, x: jnp.matmul(a, jnp.tanh(h), precision="highest")  # noqa: E731
    f = lambda a, m="auto": lyapunov_spectrum(step, a, 0.1 * jnp.ones(4, F32), steps=20, method=m)  # noqa: E731
    with jax.enable_x64(False):
        b = jax.jit(jax.vmap(f))(a)
        singles = [jax.jit(f)(a[i]) for i in range(2)]
        jaxpr = str(jax.make_jaxpr(jax.vmap(f))(a))
        g_auto = jax.grad(lambda a: f(a).exponents[0])(tri)
        g_hh = jax.grad(lambda a: f(a, "householder").exponents[0])(tri)
    for i in range(2):
        np.testing.assert_allclose(b.exponents[i], singles[i].exponents, rtol=1e-6)
        assert int(b.householder_count[i]) == int(singles[i].householder_count)
    assert int(b.householder_count[0]) == 0 and int(b.householder_count[1]) == 20
    assert "cond[" in jaxpr
    np.testing.assert_allclose(g_auto, g_hh, rtol=1e-5, atol=1e-6)
    assert float(g_auto[0, 0]) > 0.5 / 0.9  # λ₁ ≈ log 0.9 + (1/T)Σ log tanh'(h_t): ∂/∂a₁₁ ≈ 1/0.9


def test_pytree_carry_and_inputs_equal_flat_state():
    """Flax's LSTMCell on its (c, h) carry = vg.lstm_step on [c; h] (same Flax parameters);
    inputs as a dict of arrays = the same inputs as one array."""
    n = 6
    p = vg.init_lstm(jax.random.PRNGKey(0), n, 2, forget_bias=1.0, dtype=jnp.float64)
    cell = nn.LSTMCell(n)
    xs = jax.random.normal(jax.random.PRNGKey(1), (40, 2), jnp.float64)
    c0, h0 = 0.1 * jnp.ones(n), -0.2 * jnp.ones(n)
    tree_step = lambda v, c, x: cell.apply(v, c, x["a"] + x["b"])[0]  # noqa: E731
    xt = {"a": xs, "b": jnp.zeros_like(xs)}
    r_tree = _spectrum(tree_step, p.variables, (c0, h0), xt, 40, warmup=7, reortho=3)
    r_flat = _spectrum(vg.lstm_step, p, jnp.concatenate([c0, h0]), xs, 40, warmup=7, reortho=3)
    np.testing.assert_allclose(r_tree.exponents, r_flat.exponents, atol=1e-12)
    assert isinstance(r_tree.state, tuple) and r_tree.state[0].shape == (n,)
    np.testing.assert_allclose(jnp.concatenate(r_tree.state), r_flat.state, atol=1e-12)
    b_tree = jax.jit(
        lambda v, c, x: vg.bptt_gradient_norms(tree_step, v, c, x, steps=40, cotangent=(jnp.ones(n), jnp.zeros(n)))
    )(p.variables, (c0, h0), xt)
    b_flat = vg.bptt_gradient_norms(
        vg.lstm_step, p, jnp.concatenate([c0, h0]), xs, steps=40, cotangent=jnp.concatenate([jnp.ones(n), jnp.zeros(n)])
    )
    np.testing.assert_allclose(b_tree.log_sq_norms, b_flat.log_sq_norms, atol=1e-12)
    np.testing.assert_allclose(b_tree.log_norms, b_tree.log_sq_norms / 2)
    with pytest.raises(ValueError, match="cotangent"):
        vg.bptt_gradient_norms(tree_step, p.variables, (c0, h0), xt, steps=40, cotangent=(jnp.ones(n),))
    with pytest.raises(ValueError, match="inputs"):
        lyapunov_spectrum(tree_step, p.variables, (c0, h0), {"a": xs, "b": xs[:5]}, steps=40)
    with pytest.raises(ValueError, match="h0"):
        lyapunov_spectrum(tree_step, p.variables, (c0, h0.astype(jnp.float32)), xt, steps=40)


def test_vector_state_with_pytree_inputs():
    """A plain [N] state driven by a dict of inputs (was rejected: the vector fast path read
    the dict's shape as ()): same exponents and BPTT norms as the array-input step."""
    xs = jax.random.normal(jax.random.key(0), (200, 3), jnp.float64)
    h0 = jnp.ones(3, jnp.float64)
    by_dict = lambda p, h, x: jnp.tanh(p * h + x["a"])
    by_array = lambda p, h, x: jnp.tanh(p * h + x)
    r = vg.lyapunov_spectrum(by_dict, 0.9, h0, {"a": xs}, steps=200)
    ref = vg.lyapunov_spectrum(by_array, 0.9, h0, xs, steps=200)
    np.testing.assert_allclose(r.exponents, ref.exponents, rtol=1e-12)
    b = vg.bptt_gradient_norms(by_dict, 0.9, h0, {"a": xs}, steps=200)
    b_ref = vg.bptt_gradient_norms(by_array, 0.9, h0, xs, steps=200)
    np.testing.assert_allclose(b.log_sq_norms, b_ref.log_sq_norms, rtol=1e-12)
