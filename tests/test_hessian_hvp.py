"""HVPs, dense Hessians and per-block restriction against jax.hessian (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from functools import partial
from jax.flatten_util import ravel_pytree

from vgtheory._hvp import dense_hessian, hessian_operator, hvp
from vgtheory._lanczos import hessian_eigh
from vgtheory._landscape import mlp_init, mse_loss, regression_data

jax.config.update("jax_enable_x64", True)


@partial(jax.jit, static_argnums=0)
def _data(dtype):
    kd, kp = jax.random.split(jax.random.key(0))
    x, y = regression_data(kd, 16, 3, dtype)
    return x, jnp.concatenate([y, -y], axis=1), mlp_init(kp, (3, 5, 2), dtype)


def _model(dtype=jnp.float64):
    x, y, p = _data(dtype)
    return partial(mse_loss, x=x, y=y), p


@partial(jax.jit, static_argnums=0)
def _dense_ref(loss, p):
    flat, unravel = ravel_pytree(p)
    return jax.hessian(lambda z: loss(unravel(z)))(flat)


def test_hvp_matches_jax_hessian():
    loss, p = _model()
    h = _dense_ref(loss, p)
    flat, unravel = ravel_pytree(p)
    v = jax.random.normal(jax.random.key(1), flat.shape)
    got = jax.jit(lambda p, v: ravel_pytree(hvp(loss, p, unravel(v)))[0])(p, v)
    np.testing.assert_allclose(got, h @ v, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(jax.jit(dense_hessian, static_argnums=0)(loss, p), h, rtol=1e-10, atol=1e-12)


def test_block_restriction_is_submatrix():
    loss, p = _model()
    h = np.asarray(_dense_ref(loss, p))
    mask = [(np.array([[True, False, True, False, True]] * 3), False), (True, np.array([False, True]))]
    leaves = jax.tree_util.tree_structure(p).flatten_up_to(mask)
    flat_mask = np.concatenate(
        [np.broadcast_to(np.asarray(m), np.shape(a)).ravel() for m, a in zip(leaves, jax.tree_util.tree_leaves(p))]
    )
    idx = np.flatnonzero(flat_mask)
    hb = jax.jit(lambda p: dense_hessian(loss, p, mask=mask))(p)
    np.testing.assert_allclose(hb, h[np.ix_(idx, idx)], rtol=1e-10, atol=1e-12)
    op = hessian_operator(loss, p, mask=mask)
    assert op.dim == idx.size
    e = jax.jit(lambda p: hessian_eigh(loss, p, 2, jax.random.key(0), mask=mask, num_iters=op.dim))(p)
    np.testing.assert_allclose(e.values, np.linalg.eigvalsh(h[np.ix_(idx, idx)])[::-1][:2], rtol=1e-8)
    x = jnp.arange(op.dim, dtype=jnp.float64)
    np.testing.assert_allclose(jax.jit(lambda x: op.from_tree(op.to_tree(x)))(x), x)


def test_flax_module():
    flax_nn = pytest.importorskip("flax.linen")

    class Net(flax_nn.Module):
        @flax_nn.compact
        def __call__(self, x):
            return flax_nn.Dense(1)(jnp.tanh(flax_nn.Dense(4)(x)))

    x = jax.jit(lambda k: jax.random.normal(k, (8, 3)))(jax.random.key(2))
    net = Net()
    variables = jax.jit(net.init)(jax.random.key(3), x)
    loss = lambda v: jnp.mean(net.apply(v, x) ** 2)
    h = _dense_ref(loss, variables)
    got = jax.jit(dense_hessian, static_argnums=0)(loss, variables)
    np.testing.assert_allclose(got, h, rtol=1e-10, atol=1e-12)


def test_float32_preserved():
    loss, p = _model(jnp.float32)
    v = jax.tree_util.tree_map(jnp.ones_like, p)
    out = jax.jit(hvp, static_argnums=0)(loss, p, v)
    assert all(a.dtype == jnp.float32 for a in jax.tree_util.tree_leaves(out))
    assert jax.eval_shape(partial(dense_hessian, loss), p).dtype == jnp.float32


def test_bad_input():
    loss, p = _model()
    with pytest.raises(TypeError, match="loss_fn"):
        hvp(lambda q: jnp.stack([loss(q), loss(q)]), p, p)
    with pytest.raises(ValueError, match="v"):
        hvp(loss, p, p[:1])
    with pytest.raises(ValueError, match="v"):
        hvp(loss, p, [(p[0][0][:1], p[0][1]), p[1]])
    with pytest.raises(ValueError, match="mask"):
        hessian_operator(loss, p, mask=[True])
    with pytest.raises(ValueError, match="mask"):
        hessian_operator(loss, p, mask=[(False, False), (False, False)])
    with pytest.raises(ValueError, match="max_dim"):
        dense_hessian(loss, p, max_dim=3)
    op = hessian_operator(loss, p)
    with pytest.raises(ValueError, match="x"):
        op.matvec(jnp.ones(op.dim + 1))
