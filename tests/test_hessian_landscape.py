"""Landscape experiments against closed forms (vg.theory) on problems with known answers."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings, strategies as st

from vgtheory import theory as th
from vgtheory._gd_stability import direction_rate, gd_quadratic, newton_vs_gd, perturbation_rate
from vgtheory._landscape import (
    mlp_init,
    mse_loss,
    optimizer_steps,
    regression_data,
    sharpness_trajectory,
    train_to_minimum,
)

jax.config.update("jax_enable_x64", True)

LAM = jnp.array([0.5, 2.0, 8.0])
QUAD = lambda w: 0.5 * jnp.sum(LAM * w["a"] ** 2)


def test_gd_quadratic_matches_recursion():
    h = jnp.diag(LAM)
    x0 = jnp.array([1.0, -1.0, 0.5])
    eta = 0.2
    traj = jax.jit(gd_quadratic, static_argnums=3)(h, x0, eta, 7)
    np.testing.assert_allclose(traj[-1], (1 - eta * LAM) ** 7 * x0, rtol=1e-12)
    rate = direction_rate(traj, jnp.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(rate, th.gd_contraction(eta, 8.0), rtol=1e-12)
    assert float(th.gd_rate(eta, LAM)) == pytest.approx(0.9)
    assert float(th.gd_stability_threshold(8.0)) == 0.25


@pytest.mark.parametrize("c", [0.9, 1.1])
def test_perturbation_rate_on_quadratic_is_exact(c):
    p = {"a": jnp.zeros(3)}
    v = {"a": jnp.array([0.0, 0.0, 1.0])}
    eta = c * 2 / 8.0
    r = jax.jit(lambda eta: perturbation_rate(QUAD, p, v, eta, 1e-3, 15))(eta)
    np.testing.assert_allclose(r, abs(1 - 2 * c), rtol=1e-10)


def test_newton_vs_gd_matches_closed_form():
    w = {"a": jnp.array([1.0, 1.0, 1.0])}
    r = jax.jit(newton_vs_gd, static_argnums=0)(QUAD, w, 0.1)
    g = LAM * 1.0
    step = th.newton_step(g, jnp.diag(LAM))
    np.testing.assert_allclose(r.newton_norm, jnp.linalg.norm(step), rtol=1e-12)
    np.testing.assert_allclose(r.ratio, jnp.linalg.norm(step) / (0.1 * jnp.linalg.norm(g)), rtol=1e-12)
    # along one eigen-direction the ratio is 1/(ηλ): > 1 on a plateau, < 1 in a ravine
    for lam in (0.5, 8.0):
        f = lambda w, lam=lam: 0.5 * lam * jnp.sum(w["a"] ** 2)
        r = jax.jit(newton_vs_gd, static_argnums=0)(f, w, 0.2)
        np.testing.assert_allclose(r.ratio, th.newton_gd_ratio(0.2, lam), rtol=1e-12)


@settings(max_examples=15, deadline=None)
@given(log_scale=st.floats(-4.0, 4.0))
def test_adam_first_step_is_scale_free(log_scale):
    g = 10.0**log_scale * jnp.array([[1.0, -0.3, 2.0, -5.0]])
    upd = _adam_first(g)
    np.testing.assert_allclose(upd[0], th.adam_first_step(g[0], 1e-3, 1e-8), rtol=1e-9)
    assert np.all(np.abs(np.asarray(upd)) <= 1e-3 * (1 + 1e-12))


@jax.jit
def _adam_first(g):
    return optimizer_steps(optax.adam(1e-3, eps=1e-8), g, jnp.zeros(g.shape[1]))


def test_momentum_and_uncorrected_adam():
    g = jnp.full((30, 2), 0.7)
    upd = jax.jit(lambda g: optimizer_steps(optax.sgd(0.1, momentum=0.9), g, jnp.zeros(2)))(g)
    np.testing.assert_allclose(upd[-1], th.momentum_step(0.7, 0.1, 0.9, 30) * jnp.ones(2), rtol=1e-12)
    # the seed's Adam (no bias correction), step 1: η(1−β1)g/(√(1−β2)|g|+ε)
    b1, b2, eta, eps, gg = 0.9, 0.999, 0.01, 1e-8, 3.0
    manual = -eta * ((1 - b1) * gg) / (np.sqrt((1 - b2) * gg**2) + eps)
    assert float(th.adam_first_step_uncorrected(gg, eta, b1, b2, eps)) == pytest.approx(manual, rel=1e-12)


def test_sharpness_trajectory_on_quadratic():
    p = {"a": jnp.ones(3)}
    tr = jax.jit(lambda k: sharpness_trajectory(QUAD, p, optax.sgd(0.01), 20, 5, k, lanczos_iters=3))(jax.random.key(0))
    np.testing.assert_allclose(tr.sharpness, 8.0, rtol=1e-8)
    assert tr.losses.shape == (20,) and tr.steps.tolist() == [5, 10, 15, 20]
    with pytest.raises(ValueError, match="every"):
        sharpness_trajectory(QUAD, p, optax.sgd(0.01), 21, 5, jax.random.key(0))


def test_train_to_minimum_certificate():
    kd, kp = jax.random.split(jax.random.key(3))

    @jax.jit
    def run():
        x, y = regression_data(kd, 32, 2)
        loss = lambda p: mse_loss(p, x, y) + 5e-4 * sum(jnp.sum(a**2) for a in jax.tree_util.tree_leaves(p))
        return train_to_minimum(loss, mlp_init(kp, (2, 4, 1)), 0.5, 200, 50)

    m = run()
    assert float(m.grad_norm) < 1e-10
    assert float(m.eig_min) > 0


def test_bad_input():
    p = {"a": jnp.zeros(3)}
    with pytest.raises(ValueError, match="direction"):
        perturbation_rate(QUAD, p, {"b": jnp.zeros(3)}, 0.1, 1e-3, 5)
    with pytest.raises(ValueError, match="grads"):
        optimizer_steps(optax.sgd(0.1), jnp.ones((3, 4)), jnp.zeros(2))
    with pytest.raises(ValueError, match="hessian"):
        th.newton_step(jnp.ones(3), jnp.eye(2))
    with pytest.raises(ValueError, match="hessian"):
        gd_quadratic(jnp.eye(2), jnp.ones(3), 0.1, 3)
    with pytest.raises(TypeError, match="loss_fn"):
        perturbation_rate(lambda q: q["a"], p, p, 0.1, 1e-3, 5)
    with pytest.raises(ValueError, match="widths"):
        mlp_init(jax.random.key(0), (3,))
