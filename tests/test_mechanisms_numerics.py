"""Underflow, sigmoid losses, Euler error recursion, activation closed forms (issue 6)."""

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vgtheory as vg
from vgtheory import theory as th

F64 = jnp.float64


# ------------------------------------------------------------------ underflow (S13)
def _emulate(dt, flush: bool) -> int:
    """Host emulation: round every product to the dtype, optionally flushing subnormals."""
    npdt = np.dtype(dt)
    tiny = float(jnp.finfo(dt).smallest_normal)
    x, c, k = np.asarray(1.0, npdt), np.asarray(0.1, npdt), 0
    while x != 0:
        x = np.asarray(x * c, npdt)
        if flush and abs(float(x)) < tiny:
            x = np.asarray(0.0, npdt)
        k += 1
    return k


@pytest.mark.parametrize("name", ["float64", "float32", "float16", "bfloat16"])
def test_underflow_closed_form_matches_emulation(name):
    dt = vg._underflow.DTYPES[name]
    assert th.predicted_underflow_step(name, subnormals=True) == _emulate(dt, False)
    assert th.predicted_underflow_step(name, subnormals=False) == _emulate(dt, True)


def test_underflow_known_values_and_measurement():
    assert (th.predicted_underflow_step("float32"), th.predicted_underflow_step("float32", subnormals=False)) == (
        46,
        38,
    )
    assert (th.predicted_underflow_step("float64"), th.predicted_underflow_step("float64", subnormals=False)) == (
        324,
        308,
    )
    for name in ("float32", "bfloat16", "float16"):
        for mode in ("jit", "eager", "numpy"):
            r = vg.underflow_step(name, mode)
            want = r.ieee_subnormal if r.subnormals_kept else r.ieee_ftz
            assert r.steps == want, r


def test_theory_underflow_step_is_a_deprecated_alias():
    with pytest.warns(DeprecationWarning, match="predicted_underflow_step"):
        assert th.underflow_step("float32", subnormals=False) == th.predicted_underflow_step(
            "float32", subnormals=False
        )


def test_underflow_bad_input():
    with pytest.raises(ValueError, match="dtype"):
        vg.underflow_step("float8")
    with pytest.raises(ValueError, match="dtype"):
        vg.underflow_step(jnp.int32)
    with pytest.raises(ValueError, match="mode"):
        vg.underflow_step("float32", mode="lazy")
    with pytest.raises(ValueError, match="factor"):
        vg.underflow_step("float32", factor=1.5)
    with pytest.raises(ValueError, match="backend"):
        vg.underflow_step("float32", backend="no_such_backend")


# ------------------------------------------------------------------ losses (S12)
def _mp_grad(loss, z, y):
    mpmath.mp.dps = 50
    p = 1 / (1 + mpmath.exp(-mpmath.mpf(z)))
    d = p - y
    return float(d * p * (1 - p) if loss == "mse" else d)


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_logit_grad_against_mpmath_and_autodiff(loss):
    z = jnp.asarray([-1e4, -700.0, -50.0, -10.0, -1.0, 0.0, 2.0, 30.0, 1e4], F64)
    for y in (0.0, 0.3, 1.0):
        cf = jax.jit(vg.logit_grad, static_argnums=0)(loss, z, y)
        ad = vg.autodiff_logit_grad(loss, z, y)
        want = np.array([_mp_grad(loss, float(zi), y) for zi in z])
        np.testing.assert_allclose(cf, want, rtol=1e-12, atol=1e-300)
        # autodiff forms σ(z) − y, which cancels for z ≫ 0, y = 1: absolute accuracy only
        np.testing.assert_allclose(ad, want, rtol=1e-9, atol=4e-15)
    for dt in (jnp.float16, jnp.float32):
        assert bool(jnp.all(jnp.isfinite(vg.autodiff_logit_grad(loss, jnp.asarray([-1e4, 1e4], dt), 1.0))))
        assert vg.logit_grad(loss, jnp.asarray([1.0], dt), 1.0).dtype == dt


@settings(max_examples=20, deadline=None)
@given(st.floats(-60, 60), st.floats(0, 1))
def test_mse_gradient_never_exceeds_bce(z, y):
    m, b = float(vg.logit_grad("mse", z, y)), float(vg.logit_grad("bce", z, y))
    assert abs(m) <= abs(b) / 4 + 1e-15  # p(1−p) ≤ 1/4


def test_losses_bad_input():
    with pytest.raises(ValueError, match="loss"):
        vg.logit_grad("hinge", 0.0, 1.0)
    with pytest.raises(TypeError, match="z"):
        vg.sigmoid_bce(jnp.asarray([1, 2]), 1.0)
    with pytest.raises(ValueError, match="y"):
        vg.sigmoid_mse(jnp.zeros(3), jnp.zeros(4))


# ------------------------------------------------------------------ Euler (S16)
def test_euler_recursion_matches_matrix_powers():
    a = np.array([[0.0, 1.0], [-4.0, -0.3]])
    h, K = 0.3, 40
    r = vg.euler_errors(jnp.asarray(a), jnp.asarray([1.0, 0.5]), h, K)
    M = np.eye(2) + h * a
    np.testing.assert_allclose(r.sensitivity, np.linalg.matrix_power(M, K), rtol=1e-10)
    np.testing.assert_allclose(r.global_error, r.propagated, rtol=1e-8)
    # e_{k+1} = M e_k + τ_k, step by step
    e = np.zeros(2)
    for k in range(K):
        e = M @ e + np.asarray(r.local[k])
    np.testing.assert_allclose(e, r.global_error, rtol=1e-8)
    assert th.euler_amplification(2.5, -1.0, 3) == pytest.approx(1.5**3)


def test_euler_bad_input():
    with pytest.raises(ValueError, match="a"):
        vg.euler_errors(jnp.ones((2, 3)), jnp.ones(2), 0.1, 3)
    with pytest.raises(ValueError, match="y0"):
        vg.euler_errors(jnp.eye(2), jnp.ones(3), 0.1, 3)
    with pytest.raises(ValueError, match="steps"):
        vg.euler_errors(jnp.eye(2), jnp.ones(2), 0.1, 0)


# ------------------------------------------------------------------ activations (S11)
def test_dying_relu_probability_exact_enumeration():
    """Width 1: the single unit is alive iff every weight keeps the sign positive: 2^(−L)."""
    for L in (1, 3, 7):
        assert th.dying_relu_probability([1] * L) == pytest.approx(1 - 2.0**-L)
    # width 2, depth 2 enumerated over the 2^4 equally likely sign patterns of w_iᵀx
    dead = sum(1 for pat in range(16) if (pat & 3) == 0 or (pat >> 2) == 0) / 16
    assert th.dying_relu_probability([2, 2]) == pytest.approx(dead)
    with pytest.raises(ValueError, match="widths"):
        th.dying_relu_probability([2, -1])


def test_derivative_closed_forms_against_autodiff():
    grid = jnp.linspace(-20.0, 20.0, 4001, dtype=F64)
    for name in ("sigmoid", "tanh", "relu", "erf"):
        a = vg.activation(name)
        assert float(jnp.max(jax.vmap(jax.grad(a.fn))(grid))) == pytest.approx(th.derivative_bound(a), rel=1e-10)
    neg = np.array([-0.5, -5.0, -20.0])
    elu = vg.activation("elu", alpha=1.5)
    np.testing.assert_allclose(th.negative_side_derivative(elu, neg), elu.deriv(jnp.asarray(neg)), rtol=1e-12)
    np.testing.assert_allclose(th.negative_side_derivative(vg.activation("leaky_relu", alpha=0.1), neg), 0.1)
    with pytest.raises(ValueError, match="act"):
        th.negative_side_derivative("tanh", neg)
