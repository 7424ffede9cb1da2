"""One linear-operator type (issue 14): LinearOperator through Lanczos, power iteration, SLQ,
the trace estimators, and matrix-free singular values of a Jacobian (Lanczos on JᵀJ)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vgtheory as vg

F64 = jnp.float64


def _mlp(key, n_in, n_hidden, n_out):
    k1, k2, k3 = jax.random.split(key, 3)
    w1 = jax.random.normal(k1, (n_hidden, n_in), F64) / np.sqrt(n_in)
    w2 = jax.random.normal(k2, (n_out, n_hidden), F64) * 1.5 / np.sqrt(n_hidden)
    b1 = 0.1 * jax.random.normal(k3, (n_hidden,), F64)

    def f(x):
        h = jnp.tanh(jnp.matmul(w1, x, precision="highest") + b1)
        return jnp.matmul(w2, h, precision="highest")

    return f


def test_top5_singular_values_of_a_300x200_jacobian_matrix_free():
    """Lanczos on JᵀJ through the operator path = float64 dense SVD to 1e-6 relative."""
    f = _mlp(jax.random.key(1), 200, 256, 300)
    x = jax.random.normal(jax.random.key(2), (200,), F64)
    op = vg.jacobian_operator(f, x)
    assert tuple(op.shape) == (300, 200)
    res = vg.lanczos_svd(op, 5, jax.random.key(3), num_iters=100)
    ref = jnp.linalg.svd(jax.jacrev(f)(x), compute_uv=False)[:5]
    np.testing.assert_allclose(np.asarray(res.values), np.asarray(ref), rtol=1e-6)
    assert bool(jnp.all(res.converged))
    # a planted wrong reference (off by 1e-5 relative) is rejected at this tolerance
    assert not np.allclose(np.asarray(res.values), np.asarray(ref) * (1 + 1e-5), rtol=1e-6, atol=0)
    # singular vectors: A v = σ u, and under the user's jit the same numbers
    av = jax.vmap(op.mv)(res.right_vectors)
    np.testing.assert_allclose(np.asarray(av), np.asarray(res.values[:, None] * res.left_vectors), atol=1e-8)
    jitted = jax.jit(lambda k: vg.lanczos_svd(op, 5, k, num_iters=100).values)(jax.random.key(3))
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(ref), rtol=1e-6)


def test_operator_algebra_against_dense():
    a = jax.random.normal(jax.random.key(0), (7, 5), F64)
    op = vg.matrix_operator(a)
    np.testing.assert_allclose(np.asarray(op.as_matrix()), np.asarray(a))
    np.testing.assert_allclose(np.asarray(op.T.as_matrix()), np.asarray(a.T))
    np.testing.assert_allclose(np.asarray(op.normal().as_matrix()), np.asarray(a.T @ a), rtol=1e-12)
    assert op.normal().symmetric and not op.symmetric
    jop = vg.as_operator(vg.jacobian_operator(lambda x: jnp.matmul(a, x, precision="highest"), jnp.ones(5, F64)))
    assert jop.shape == (7, 5)
    np.testing.assert_allclose(np.asarray(jop.as_matrix()), np.asarray(a), rtol=1e-12)


def _loss(p):
    return 0.5 * jnp.sum(jnp.arange(1.0, 9.0, dtype=F64) * p**2) + 0.1 * jnp.sum(jnp.sin(p) * p[::-1])


P = jnp.linspace(-1.0, 1.0, 8, dtype=F64)


def test_hessian_operator_is_a_linear_operator_everywhere():
    h = vg.hessian_operator(_loss, P)
    assert vg.as_operator(h).symmetric and h.shape == (8, 8)
    dense = np.asarray(jax.hessian(_loss)(P))
    eig = np.linalg.eigvalsh(dense)
    v0 = jnp.linspace(0.5, 1.5, 8, dtype=F64)
    e = vg.lanczos_eigh(h, v0, 3, num_iters=8)
    np.testing.assert_allclose(np.asarray(e.values), eig[::-1][:3], rtol=1e-10)
    pw = vg.power_iteration(h, v0, 200)
    np.testing.assert_allclose(float(pw.value), float(np.max(np.abs(eig))), rtol=1e-6)
    key = jax.random.key(0)
    mu = vg.slq(h, None, key, num_probes=2, num_iters=8)  # m = d: every probe's nodes are the eigenvalues
    assert mu.nodes.dtype == F64
    np.testing.assert_allclose(np.sort(np.asarray(mu.nodes), axis=1), np.stack([eig, eig]), rtol=1e-8, atol=1e-10)
    z = np.asarray(jax.random.rademacher(key, (4, 8), dtype=jnp.int8), np.float64)
    t = vg.hutchinson(h, None, key, 4)  # same Rademacher probes as the reference below
    np.testing.assert_allclose(float(t.mean), np.mean(np.einsum("pi,ij,pj->p", z, dense, z)), rtol=1e-10)


def test_operator_misuse_names_the_argument():
    a = jnp.ones((4, 3), F64)
    with pytest.raises(ValueError, match="matvec.*symmetric"):
        vg.lanczos_eigh(vg.matrix_operator(a), jnp.ones(3, F64), 1)
    with pytest.raises(ValueError, match="matvec"):
        vg.lanczos_eigh(vg.matrix_operator(jnp.eye(4), symmetric=True), jnp.ones(3, F64), 1)
    with pytest.raises(ValueError, match="matvec"):
        vg.slq(vg.matrix_operator(jnp.eye(4), symmetric=True), 5, jax.random.key(0))
    with pytest.raises(TypeError, match="operator"):
        vg.as_operator(lambda x: x)
    with pytest.raises(ValueError, match="k"):
        vg.lanczos_svd(vg.matrix_operator(a), 3, jax.random.key(0))
