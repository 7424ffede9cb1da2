"""Lanczos top-k (both ends, with eigenvectors) and power iteration against dense eigh."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from jax.flatten_util import ravel_pytree

from vgtheory._lanczos import hessian_eigh, lanczos_eigh, power_iteration
from vgtheory._landscape import mlp_init, mse_loss, regression_data

jax.config.update("jax_enable_x64", True)


@jax.jit
def _problem():
    kd, kp = jax.random.split(jax.random.key(7))
    x, y = regression_data(kd, 24, 3)
    p = mlp_init(kp, (3, 6, 1))
    flat, unravel = ravel_pytree(p)
    h = jax.hessian(lambda z: mse_loss(unravel(z), x, y))(flat)
    return x, y, p, h


def _loss(x, y):
    return partial(mse_loss, x=x, y=y)


@pytest.mark.parametrize("which", ["largest", "smallest", "largest_magnitude"])
def test_topk_matches_dense_eigh(which):
    x, y, p, h = _problem()
    w = np.linalg.eigvalsh(np.asarray(h))
    d, k = w.size, 4
    e = jax.jit(lambda p, key: hessian_eigh(_loss(x, y), p, k, key, which=which, num_iters=d))(p, jax.random.key(0))
    ref = {"largest": w[::-1][:k], "smallest": w[:k], "largest_magnitude": w[np.argsort(-np.abs(w))][:k]}[which]
    scale = np.max(np.abs(w))
    np.testing.assert_allclose(np.asarray(e.values), ref, rtol=1e-6, atol=1e-6 * scale)
    # eigenvectors: unit, orthogonal, and H v = λ v
    vec = jax.vmap(lambda t: ravel_pytree(t)[0])(e.vectors)
    np.testing.assert_allclose(vec @ vec.T, np.eye(k), atol=1e-8)
    res = np.linalg.norm(vec @ np.asarray(h) - np.asarray(e.values)[:, None] * vec, axis=1)
    assert np.all(res <= 1e-6 * scale)
    assert bool(jnp.all(e.converged))


def test_fewer_iterations_converge_at_the_top():
    x, y, p, h = _problem()
    w = np.linalg.eigvalsh(np.asarray(h))
    e = jax.jit(lambda p: hessian_eigh(_loss(x, y), p, 1, jax.random.key(1), num_iters=30))(p)
    assert abs(float(e.values[0]) - w[-1]) <= 1e-6 * abs(w[-1])


def test_power_iteration_baseline():
    a = jnp.diag(jnp.array([5.0, -2.0, 1.0, 0.5]))
    r = jax.jit(lambda v: power_iteration(lambda x: a @ x, v, 200))(jnp.ones(4))
    assert abs(float(r.value) - 5.0) < 1e-10
    assert r.history.shape == (200,)
    # same answer as optax's power iteration (the library routine PyHessian-style code uses)
    import optax

    out = optax.power_iteration(lambda x: a @ x, v0=jnp.ones(4), num_iters=200)
    lam = next(o for o in out if jnp.ndim(o) == 0)  # (eigenvalue, eigenvector) in optax 0.2.x
    assert abs(float(lam) - float(r.value)) < 1e-8


@settings(max_examples=10, deadline=None)
@given(d=st.just(7), seed=st.integers(0, 2**16), which=st.sampled_from(["largest", "smallest", "largest_magnitude"]))
def test_random_symmetric(d, seed, which):
    """Full Krylov dimension (m = d, with breakdown restarts) reproduces the spectrum."""
    g = np.random.default_rng(seed).standard_normal((d, d))
    a = jnp.asarray(g + g.T)
    w = np.linalg.eigvalsh(np.asarray(a))
    e = _lanczos_jit(a, jnp.ones(d), which)
    ref = {"largest": w[::-1][:2], "smallest": w[:2], "largest_magnitude": w[np.argsort(-np.abs(w))][:2]}[which]
    np.testing.assert_allclose(np.asarray(e.values), ref, rtol=1e-8, atol=1e-8 * np.abs(w).max())


@partial(jax.jit, static_argnums=2)
def _lanczos_jit(a, v0, which):
    return lanczos_eigh(lambda x: a @ x, v0, 2, which=which, num_iters=v0.shape[0])


def test_degenerate_spectrum_breakdown():
    a = jnp.diag(jnp.array([3.0, 3.0, 3.0, 1.0, 1.0] + [0.0] * 7))
    e = _lanczos_jit(a, jnp.ones(12), "largest")
    np.testing.assert_allclose(np.asarray(e.values), [3.0, 3.0], atol=1e-12)


def test_bad_input():
    a = jnp.eye(5)
    mv = lambda x: a @ x
    with pytest.raises(ValueError, match="k"):
        lanczos_eigh(mv, jnp.ones(5), 5)
    with pytest.raises(ValueError, match="k"):
        lanczos_eigh(mv, jnp.ones(5), 0)
    with pytest.raises(ValueError, match="which"):
        lanczos_eigh(mv, jnp.ones(5), 1, which="biggest")
    with pytest.raises(ValueError, match="num_iters"):
        lanczos_eigh(mv, jnp.ones(5), 2, num_iters=6)
    with pytest.raises(ValueError, match="v0"):
        lanczos_eigh(mv, jnp.ones((5, 1)), 1)
    x, y, p, _ = _problem()
    with pytest.raises(ValueError, match="k"):
        hessian_eigh(_loss(x, y), p, 100, jax.random.key(0))
    with pytest.raises(TypeError, match="loss_fn"):
        hessian_eigh(lambda q: mlp_init, p, 1, jax.random.key(0))
