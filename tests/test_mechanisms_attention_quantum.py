"""Self-attention rank collapse and the statevector simulator (issue 6: L9, L10)."""

import math
from functools import reduce

import flax.linen as fnn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vgtheory as vg
from vgtheory import theory as th
from vgtheory._quantum import ry, rz

F64 = jnp.float64


# ------------------------------------------------------------------ attention
def test_self_attention_matches_flax(key):
    T, d = 5, 4
    p = vg.init_attention(key, d, 1, F64)
    x = jax.random.normal(jax.random.fold_in(key, 1), (T, d), F64)
    q, k, v = x @ p.wq[0], x @ p.wk[0], x @ p.wv[0]
    want = fnn.dot_product_attention(q[:, None, :], k[:, None, :], v[:, None, :], precision=jax.lax.Precision.HIGHEST)[
        :, 0, :
    ]
    np.testing.assert_allclose(vg.self_attention(p.wq[0], p.wk[0], p.wv[0], x), want, rtol=1e-10)


def test_rank_one_residual_is_best_tokens_equal_fit(key):
    x = jax.random.normal(key, (6, 3), F64)
    # best c in min_c ‖X − 1cᵀ‖_F by least squares, independent of the token-mean formula
    c, *_ = np.linalg.lstsq(np.ones((6, 1)), np.asarray(x), rcond=None)
    want = np.linalg.norm(np.asarray(x) - np.ones((6, 1)) @ c) / np.linalg.norm(np.asarray(x))
    np.testing.assert_allclose(vg.rank_one_residual(x), want, rtol=1e-12)
    assert float(vg.rank_one_residual(jnp.ones((4, 3)) * jnp.arange(3.0)[None, :])) == 0.0


def test_pure_attention_cubic_exponent_and_skip(key):
    d, T = 8, 6
    p = vg.init_attention(key, d, 1, F64)
    w = (p.wq[0], p.wk[0], p.wv[0])
    xbar, r = jax.random.normal(jax.random.fold_in(key, 1), (2, T, d), F64)
    r = r - r.mean(0, keepdims=True)
    eps = jnp.asarray([1e-2, 1e-3, 1e-4], F64)
    for variant in ("pure", "skip"):
        l0, l1 = [], []
        for e in eps:
            x0 = xbar[:1] + e * r
            l0.append(math.log(float(vg.rank_one_residual(x0))))
            l1.append(math.log(float(vg.rank_one_residual(vg.attention_block(w, x0, variant)))))
        slope = np.polyfit(l0, l1, 1)[0]
        assert abs(slope - th.rank_collapse_exponent(variant)) < 0.05


def test_attention_residuals_and_bad_input(key):
    p = vg.init_attention(key, 8, 6, F64)
    res = vg.attention_residuals(p, jax.random.normal(key, (5, 8), F64), "pure")
    assert res.shape == (7,) and float(res[-1]) < 1e-6 < float(res[0])
    with pytest.raises(ValueError, match="variant"):
        vg.attention_residuals(p, jnp.ones((5, 8)), "cross")
    with pytest.raises(ValueError, match="x"):
        vg.attention_residuals(p, jnp.ones((5, 7)))
    with pytest.raises(ValueError, match="x"):
        vg.attention_residuals(p, jnp.ones((1, 8)))
    with pytest.raises(ValueError, match="dim"):
        vg.init_attention(key, 0, 2)
    with pytest.raises(ValueError, match="depth"):
        th.attention_collapse_bound(0.5, -1, 0.1)


# ------------------------------------------------------------------ quantum
_P = {"I": np.eye(2), "Z": np.diag([1.0, -1.0]), "X": np.array([[0, 1], [1, 0]]), "Y": np.array([[0, -1j], [1j, 0]])}


def _dense_state(thetas, n_active=None):
    """Reference: each layer as a dense 2ⁿ×2ⁿ unitary built with Kronecker products."""
    th_ = np.asarray(thetas)
    L, n, _ = th_.shape
    m = n if n_active is None else n_active
    psi = np.zeros(2**n, complex)
    psi[0] = 1
    for l in range(L):
        gates = [np.asarray(rz(th_[l, q, 1])) @ np.asarray(ry(th_[l, q, 0])) if q < m else np.eye(2) for q in range(n)]
        U = reduce(np.kron, gates)
        diag = np.ones(2**n)
        for i in range(2**n):
            bits = [(i >> (n - 1 - q)) & 1 for q in range(n)]
            diag[i] = (-1) ** sum(bits[q] * bits[q + 1] for q in range(m - 1))
        psi = diag * (U @ psi)
    return psi


@pytest.mark.parametrize("n", [1, 2, 3])
def test_statevector_matches_dense_unitary(key, n):
    thetas = jax.random.uniform(key, (3, n, 2), F64, 0, 2 * math.pi)
    psi = jax.jit(vg.circuit_state)(thetas).ravel()
    np.testing.assert_allclose(np.asarray(psi), _dense_state(thetas), atol=1e-12)
    pauli = "ZYX"[:n] if n > 1 else "X"
    H = reduce(np.kron, [_P[c] for c in pauli])
    ref = _dense_state(thetas)
    np.testing.assert_allclose(
        float(vg.pauli_expectation(psi.reshape((2,) * n), pauli)), np.real(ref.conj() @ H @ ref), atol=1e-12
    )


def test_n_active_embeds_smaller_circuit(key):
    thetas = jax.random.uniform(key, (4, 3, 2), F64, 0, 2 * math.pi)
    psi = np.asarray(vg.circuit_state(thetas, n_active=2)).ravel()
    np.testing.assert_allclose(psi, _dense_state(thetas, n_active=2), atol=1e-12)
    small = np.asarray(vg.circuit_state(thetas[:, :2])).ravel()
    np.testing.assert_allclose(psi, np.kron(small, [1, 0]), atol=1e-12)


def test_gradient_matches_parameter_shift(key):
    s = vg.random_circuit_gradients(key, 3, 4, 3, index=(1, 2, 1), pauli="ZZI", dtype=F64)
    keys = jax.random.split(key, 3)
    energy = jax.jit(vg.circuit_energy, static_argnums=1)  # one compile for all evaluations
    for i in range(3):
        t = jax.random.uniform(keys[i], (4, 3, 2), F64, 0.0, 2 * jnp.pi)
        e = lambda d: float(energy(t.at[1, 2, 1].add(d), "ZZI"))
        np.testing.assert_allclose(float(s.grads[i]), 0.5 * (e(math.pi / 2) - e(-math.pi / 2)), atol=1e-10)
        np.testing.assert_allclose(float(s.energies[i]), e(0.0), atol=1e-12)


def test_barren_plateau_formula_against_haar_sampling():
    """n = 1 and 2: Haar-random U₋, U₊ (QR of complex Gaussians), G = P/2, H = Z⊗…; exact variance."""
    rng = np.random.default_rng(0)
    for n in (1, 2):
        N, m = 2**n, 20000
        G = 0.5 * reduce(np.kron, [_P["Y"]] + [_P["I"]] * (n - 1))
        H = reduce(np.kron, [_P["Z"]] * n)
        z = rng.normal(size=(m, 2, N, N)) + 1j * rng.normal(size=(m, 2, N, N))
        q, r = np.linalg.qr(z)
        U = q * (np.diagonal(r, axis1=-2, axis2=-1) / np.abs(np.diagonal(r, axis1=-2, axis2=-1)))[..., None, :]
        psi = U[:, 0, :, 0]
        Ht = np.einsum("mji,jk,mkl->mil", U[:, 1].conj(), H, U[:, 1])
        A = 1j * (G @ Ht - Ht @ G)
        g = np.real(np.einsum("mi,mij,mj->m", psi.conj(), A, psi))
        pred = th.barren_plateau_variance(n)
        assert abs(g.var() - pred) < 4 * g.var() * math.sqrt(2.0 / m) * 2
    assert abs(th.barren_plateau_variance(1) - 2 / 9) < 1e-15


def test_quantum_bad_input(key):
    with pytest.raises(ValueError, match="n_qubits"):
        vg.random_circuit_gradients(key, 13, 2, 2)
    with pytest.raises(ValueError, match="thetas"):
        vg.circuit_state(jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match="n_qubits"):
        vg.circuit_state(jnp.zeros((1, 13, 2)))
    with pytest.raises(ValueError, match="pauli"):
        vg.circuit_energy(jnp.zeros((1, 2, 2)), "ZZZ")
    with pytest.raises(ValueError, match="pauli"):
        vg.circuit_energy(jnp.zeros((1, 2, 2)), "ZQ")
    with pytest.raises(ValueError, match="index"):
        vg.random_circuit_gradients(key, 2, 2, 2, index=(5, 0, 0))
    with pytest.raises(ValueError, match="samples"):
        vg.random_circuit_gradients(key, 2, 2, 0)
