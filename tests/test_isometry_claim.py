"""Pieces of claim L5 (dynamical isometry): the Haar layers of two widths from one QR, and the
width-extrapolated member statistics."""

import math

import jax
import jax.numpy as jnp
import numpy as np

from vgtheory.claims.spectra import _haar_pair, _l5_member, _l5_networks


def test_haar_pair_blocks_are_the_qr_of_the_gaussian_blocks():
    n, L = 12, 3
    wo, half = jax.jit(_haar_pair, static_argnums=(1, 2))(jax.random.key(3), n, L)
    assert wo.shape == (L, n, n) and half.shape == (L, n // 2, n // 2)
    for q in (wo, half):
        eye = np.eye(q.shape[-1])
        np.testing.assert_allclose(np.einsum("lij,lkj->lik", q, q), np.broadcast_to(eye, q.shape), atol=2e-6)
    # independent reference: the sign-fixed QR of each half-width Gaussian block on its own
    g = jax.random.normal(jax.random.key(3), (2 * L, n, n), jnp.float32)[L:, : n // 2, : n // 2]
    q, r = np.linalg.qr(np.asarray(g, np.float64))
    ref = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[:, None, :]
    np.testing.assert_allclose(half, ref, atol=2e-5)


def test_member_extrapolates_the_two_widths():
    n, L, scales = 16, 3, (1.3, 0.2, 0.7)
    k = jax.random.key(5)
    out = jax.jit(lambda k: _l5_member(k, n=n, L=L, tanh_scales=scales))(k)
    kq, kn, kh = jax.random.split(k, 3)
    wo, wo_half = _haar_pair(kq, n, L)
    wide = _l5_networks(kn, wo, L=L, tanh_scales=scales)
    half = _l5_networks(kh, wo_half, L=L, tanh_scales=scales)
    np.testing.assert_allclose(out["n"], wide, rtol=1e-5)

    def stats(rows):
        return np.stack([rows[2:, 1] / rows[2:, 0] ** 2, rows[2:, 0]], axis=-1)

    np.testing.assert_allclose(out["step"], stats(wide) - stats(half), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["ext"], 2 * stats(wide) - stats(half), rtol=1e-4, atol=1e-5)
    # linear orthogonal: an exact isometry at both widths (spread 0, mean 1)
    np.testing.assert_allclose(out["n"][0], [1.0, 0.0], atol=1e-5)
    assert math.isfinite(float(jnp.sum(out["ext"])))
