"""SLQ density and Hutchinson / Hutch++ traces against the dense Hessian (float64)."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from vgtheory._landscape import mlp_init, mse_loss, regression_data
from vgtheory._slq import SpectralMeasure, hessian_slq, slq, slq_density
from vgtheory._trace import hessian_trace, hutchinson, hutchpp

jax.config.update("jax_enable_x64", True)


@jax.jit
def _problem():
    kd, kp = jax.random.split(jax.random.key(11))
    x, y = regression_data(kd, 32, 4)
    p = mlp_init(kp, (4, 8, 1))
    flat, unravel = ravel_pytree(p)
    h = jax.hessian(lambda z: mse_loss(unravel(z), x, y))(flat)
    return x, y, p, h


def test_slq_weights_density_and_histogram():
    x, y, p, h = _problem()
    w = np.linalg.eigvalsh(np.asarray(h))
    mu = jax.jit(lambda p, k: hessian_slq(partial(mse_loss, x=x, y=y), p, k, num_probes=24, num_iters=30))(
        p, jax.random.key(0)
    )
    assert abs(float(mu.weights.sum()) - 1.0) < 1e-12
    assert bool(jnp.all(mu.weights >= 0))
    sigma = 0.02 * (w[-1] - w[0])  # stated smoothing width: 2% of the spectral range
    grid = jnp.linspace(w[0] - 10 * sigma, w[-1] + 10 * sigma, 4001)
    dens_fn = jax.jit(slq_density, static_argnums=2)
    dens = dens_fn(mu, grid, sigma)
    assert abs(float(np.trapezoid(np.asarray(dens), np.asarray(grid))) - 1.0) < 1e-6
    ref = dens_fn(SpectralMeasure(jnp.asarray(w)[None], jnp.full((1, w.size), 1.0 / w.size)), grid, sigma)
    # histogram: mass per bin, SLQ vs dense eigenvalues (same smoothing)
    edges = np.linspace(w[0] - 10 * sigma, w[-1] + 10 * sigma, 11)
    g = np.asarray(grid)
    mass = lambda f: np.array(
        [
            np.trapezoid(np.asarray(f)[(g >= a) & (g <= b)], g[(g >= a) & (g <= b)])
            for a, b in zip(edges[:-1], edges[1:])
        ]
    )
    np.testing.assert_allclose(mass(dens), mass(ref), atol=0.05)
    assert float(np.trapezoid(np.abs(np.asarray(dens - ref)), g)) < 0.15


def test_slq_gauss_quadrature_moments_exact():
    """For each probe, Σ_j τ_j θ_j^k = vᵀA^k v/‖v‖² for k ≤ 2m−1 (Gauss quadrature)."""
    g = np.random.default_rng(0).standard_normal((30, 30))
    a = jnp.asarray((g + g.T) / 8)
    m, key = 6, jax.random.key(3)
    mu = jax.jit(lambda a: slq(lambda x: a @ x, 30, key, num_probes=1, num_iters=m))(a)
    v = np.asarray(jax.random.rademacher(jax.random.split(key, 1)[0], (30,), dtype=jnp.int8), float)
    an = np.asarray(a)
    for k in range(2 * m):
        exact = v @ np.linalg.matrix_power(an, k) @ v / (v @ v)
        got = float(jnp.sum(mu.weights[0] * mu.nodes[0] ** k))
        assert abs(got - exact) <= 1e-9 * max(1.0, abs(exact))


@pytest.mark.parametrize("method", ["hutchinson", "hutchpp"])
def test_trace_within_reported_se(method):
    x, y, p, h = _problem()
    exact = float(jnp.trace(h))
    budget = {"hutchinson": 1000, "hutchpp": 90}[method]
    t = jax.jit(lambda p, k: hessian_trace(partial(mse_loss, x=x, y=y), p, k, budget, method=method))(
        p, jax.random.key(5)
    )
    assert t.se > 0
    assert abs(float(t.mean) - exact) <= 4 * float(t.se)
    for planted in (0.8 * exact, 1.2 * exact):  # the check has power
        assert abs(float(t.mean) - planted) > 4 * float(t.se)


def test_trace_masked_block():
    x, y, p, h = _problem()
    mask = [(True, True), (False, False)]
    d0 = 4 * 8 + 8
    t = jax.jit(lambda p, k: hessian_trace(partial(mse_loss, x=x, y=y), p, k, 60, mask=mask))(p, jax.random.key(2))
    exact = float(jnp.trace(h[:d0, :d0]))
    assert abs(float(t.mean) - exact) <= 4 * float(t.se)


def test_exact_on_identity():
    t = jax.jit(lambda k: hutchinson(lambda x: 3.0 * x, 7, k, 5))(jax.random.key(0))
    assert float(t.mean) == 21.0 and float(t.se) == 0.0
    t = jax.jit(lambda k: hutchpp(lambda x: 3.0 * x, 7, k, 9))(jax.random.key(0))
    assert abs(float(t.mean) - 21.0) <= 4 * float(t.se)


def test_bad_input():
    mv = lambda x: x
    with pytest.raises(ValueError, match="num_samples"):
        hutchinson(mv, 5, jax.random.key(0), 1)
    with pytest.raises(ValueError, match="sketch_size"):
        hutchpp(mv, 5, jax.random.key(0), 30, sketch_size=5)
    with pytest.raises(ValueError, match="num_iters"):
        slq(mv, 5, jax.random.key(0), num_iters=6)
    with pytest.raises(ValueError, match="sigma"):
        slq_density(SpectralMeasure(jnp.ones((1, 2)), jnp.ones((1, 2)) / 2), jnp.ones(3), 0.0)
    with pytest.raises(TypeError, match="dtype"):
        slq(mv, 5, jax.random.key(0), num_iters=2, dtype=jnp.int32)
    with pytest.raises(ValueError, match="method"):
        x, y, p, _ = _problem()
        hessian_trace(partial(mse_loss, x=x, y=y), p, jax.random.key(0), 10, method="exact")
