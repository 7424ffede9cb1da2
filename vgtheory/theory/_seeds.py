"""Closed forms stated in the seed texts (claims S1–S4).

Conventions: g_l = ∂L/∂x_l; W_l entries N(0, σ_w²/n_{l−1}) (fan-in), so that
E‖W_lᵀ v‖² = σ_w² ‖v‖² for any v independent of W_l. The seed's "nσ²" is σ_w² here.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from ._meanfield import kappa, q_trajectory


def sigmoid_chain_bound(weights):
    """S1: |∂L/∂a¹| / |∂L/∂x^L| ≤ (1/4)^L ∏_{l≥2} |w^(l)| for a scalar sigmoid chain.

    Args:
      weights: ``[L]``, the scalar weights w^(1..L); w^(1) does not enter (the gradient is
        taken with respect to the first pre-activation a¹).

    Returns:
      log of the bound, ``L·log(1/4) + Σ_{l≥2} log|w^(l)|``.
    """
    w = jnp.asarray(weights)
    return w.shape[0] * jnp.log(0.25) + jnp.sum(jnp.log(jnp.abs(w[1:])))


def spectral_bound(spectral_norms):
    """S2: log ∏_l ‖W_l‖₂, the bound on log(‖∇_{x0}L‖/‖∇_{xL}L‖) when φ' ∈ [0, 1]."""
    return jnp.sum(jnp.log(jnp.asarray(spectral_norms)))


def linear_gradient_gain(sigma_w2, depth: int):
    """S4: E‖g₀‖²/‖g_L‖² = σ_w^{2L} for a deep linear network (exact at any width)."""
    return jnp.asarray(sigma_w2) ** depth


@functools.partial(jax.jit, static_argnames=("act", "depth"))
def constant_kappa_gain(act, sigma_w2, q, depth: int):
    """S3 as the seed states it: E‖g₀‖²/‖g_L‖² ∝ (σ_w² κ)^L with one κ = E[φ'(√q z)²]."""
    return (sigma_w2 * kappa(act, q)) ** depth


@functools.partial(jax.jit, static_argnames=("act", "depth"))
def mean_field_gain(act, sigma_w2, sigma_b2, q0, depth: int):
    """S3 corrected: E‖g₀‖²/‖g_L‖² ≈ ∏_{l=1}^{L} σ_w² κ(q^l), with q^l the length map's trajectory.

    κ changes with depth whenever q^l does (e.g. tanh with σ_w² = 1, σ_b = 0: q^l → 0 like
    1/l, κ(q^l) → 1, and the decay is a power law in L, not geometric). Exact for ReLU at
    any width for a cotangent independent of the network (κ = 1/2 whatever q).

    References:
      Schoenholz et al. (2017), eq. (5) and §3 (gradient independence); Hanin (2018).
    """
    qs = q_trajectory(q0, act, sigma_w2, sigma_b2, depth)
    return jnp.prod(sigma_w2 * jax.vmap(lambda q: kappa(act, q))(qs))
