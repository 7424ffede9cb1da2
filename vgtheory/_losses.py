"""Sigmoid-output losses in stable form, and their gradients with respect to the logit.

For a logit z, p = σ(z) and a target y ∈ [0, 1]:

    MSE  L = ½(p − y)²                        ∂L/∂z = (p − y)·p(1 − p)
    BCE  L = −y log p − (1−y) log(1 − p)      ∂L/∂z = p − y

(Seed S12.) p(1 − p) = σ(z)σ(−z) ≤ 1/4 and ≈ e^{−|z|} for large |z|, so MSE's gradient
vanishes exactly when the output is confidently wrong (z → −∞ with y = 1), while the
cross-entropy gradient tends to −1. The losses are written so that |z| = 10⁴ gives no
NaN or inf in float16/32/64: BCE = softplus(z) − y·z (never log 0), p − y with
1 − σ(z) computed as σ(−z).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ._checks import check_real, concrete

LOSSES = ("mse", "bce")


def _check(z, y):
    z = jnp.asarray(z)
    check_real("z", z)
    if jnp.iscomplexobj(y):
        raise TypeError(f"y: expected real targets in [0, 1], got dtype {jnp.result_type(y)}.")
    y = jnp.asarray(y, z.dtype)
    try:
        out = jnp.broadcast_shapes(z.shape, y.shape)
    except ValueError:
        out = None
    if out != z.shape:  # the result has z's shape: y broadcasts to it, not the other way
        raise ValueError(
            f"y, z: expected y's shape to broadcast to z's {z.shape} (the result's), got y of shape {y.shape}."
        )
    v = concrete(y)  # concrete targets must be probabilities; traced ones (jit/vmap) pass
    if v is None:
        return z, y
    bad = ~((v >= 0) & (v <= 1))  # also catches NaN
    if bad.any():
        raise ValueError(
            f"y: expected targets in [0, 1], got {float(v[bad].ravel()[0])} ({int(bad.sum())} of {v.size} outside)."
        )
    return z, y


def sigmoid_mse(z: Float[ArrayLike, "..."], y: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
    """½(σ(z) − y)², elementwise; finite for any finite z.

    Example:
      >>> float(sigmoid_mse(0.0, 1.0))
      0.125
    """
    z, y = _check(z, y)
    return 0.5 * (jax.nn.sigmoid(z) - y) ** 2


def sigmoid_bce(z: Float[ArrayLike, "..."], y: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
    """Binary cross-entropy of σ(z) against y as softplus(z) − y·z (never log 0).

    ``y`` must lie in [0, 1] (checked when concrete): outside it the loss is unbounded below.

    Example:
      >>> round(float(sigmoid_bce(0.0, 1.0)), 6)
      0.693147
    """
    z, y = _check(z, y)
    return jax.nn.softplus(z) - y * z


def logit_grad(loss: str, z: Float[ArrayLike, "..."], y: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
    """Closed-form ∂L/∂z: ``"mse"`` → (p − y)p(1 − p), ``"bce"`` → p − y (stable).

    Args:
      loss: ``"mse"`` or ``"bce"``.
      z: logits, any shape.
      y: targets in [0, 1], broadcastable to ``z``.

    Returns:
      ∂L/∂z, same shape and dtype as ``z``.

    Raises:
      ValueError: unknown loss, shape mismatch, concrete ``y`` outside [0, 1].
      TypeError: non-float ``z``, complex ``y``.

    Example:
      >>> round(float(logit_grad("mse", -10.0, 1.0)), 8), round(float(logit_grad("bce", -10.0, 1.0)), 5)
      (-4.539e-05, -0.99995)
    """
    if loss not in LOSSES:
        raise ValueError(f"loss: unknown {loss!r}; expected one of {LOSSES}.")
    z, y = _check(z, y)
    return _logit_grad(loss, z, y)


@partial(jax.jit, static_argnums=0)
def _logit_grad(loss, z, y):
    p, q = jax.nn.sigmoid(z), jax.nn.sigmoid(-z)  # q = 1 − p without cancellation
    d = jnp.where(y == 1, -q, p - y)
    return d * p * q if loss == "mse" else d


def autodiff_logit_grad(loss: str, z: Float[ArrayLike, "..."], y: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
    """∂L/∂z by ``jax.grad`` through :func:`sigmoid_mse` / :func:`sigmoid_bce` (elementwise)."""
    if loss not in LOSSES:
        raise ValueError(f"loss: unknown {loss!r}; expected one of {LOSSES}.")
    z, y = _check(z, y)
    return _autodiff_logit_grad(loss, *jnp.broadcast_arrays(z, y))


@partial(jax.jit, static_argnums=0)
def _autodiff_logit_grad(loss, z, y):
    f = sigmoid_mse if loss == "mse" else sigmoid_bce
    return jax.vmap(jax.grad(f))(z.ravel(), y.ravel()).reshape(z.shape)
