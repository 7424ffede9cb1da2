"""BatchNorm (batch statistics) and LayerNorm as pure functions, and MLPs that use them.

    BN(h)_{b,i} = γ_i (h_{b,i} − μ_i)/√(σ_i² + ε) + β_i,   μ_i, σ_i² over the batch b,
    LN(h)_{b,i} = γ_i (h_{b,i} − μ_b)/√(σ_b² + ε) + β_i,   μ_b, σ_b² over the units i,

(Ioffe & Szegedy 2015; Ba, Kiros & Hinton 2016). At initialisation γ = 1, β = 0.
The normalised MLP applies, for l = 1..L (Yang et al. 2019, "A mean field theory of batch
normalization", the BN-before-nonlinearity order):

    x_l = φ(N(W_l x_{l−1})),   N ∈ {BN, LN, identity}.

BN couples the examples of a batch, so the batch ``[B, n]`` is one input: the gradient
flow of a loss on the whole batch is what explodes at initialisation (L6).
"""

from __future__ import annotations

from typing import NamedTuple, cast

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float

from ._checks import check_real, check_scalar
from ._activations import as_activation
from ._mlp import MLP
from ._residual import stack_gradient_flow
from ._numerics import HIGHEST

NORMS = ("batch", "layer", "none")


def batch_norm(
    h: Float[Array, "B n"], gamma: ArrayLike = 1.0, beta: ArrayLike = 0.0, eps: ArrayLike = 1e-5
) -> Float[Array, "B n"]:
    """Normalises each unit over the batch (axis 0) with batch statistics (biased variance).

    Raises:
      ValueError: ``h`` not 2-D, batch size < 2, or negative ``eps``.

    Example:
      >>> import jax.numpy as jnp
      >>> y = batch_norm(jnp.array([[1.0, 2.0], [3.0, 6.0]]), eps=0.0)
      >>> y.tolist()
      [[-1.0, -1.0], [1.0, 1.0]]
    """
    check_real("h", h)
    if jnp.ndim(h) != 2 or jnp.shape(h)[0] < 2:
        raise ValueError(f"h: expected a batch [B, n] with B ≥ 2, got shape {jnp.shape(h)}.")
    check_scalar("eps", eps, nonneg=True)
    mu = jnp.mean(h, axis=0, keepdims=True)
    var = jnp.mean(jnp.square(h - mu), axis=0, keepdims=True)
    return cast(
        Array, gamma * (h - mu) * lax.rsqrt(var + jnp.asarray(eps, h.dtype)) + beta
    )  # NumPy gamma: still a jax Array


def layer_norm(
    h: Float[Array, "... n"], gamma: ArrayLike = 1.0, beta: ArrayLike = 0.0, eps: ArrayLike = 1e-5
) -> Float[Array, "... n"]:
    """Normalises each example over its units (last axis).

    Raises:
      ValueError: fewer than 2 units or negative ``eps``.

    Example:
      >>> import jax.numpy as jnp
      >>> layer_norm(jnp.array([1.0, 3.0]), eps=0.0).tolist()
      [-1.0, 1.0]
    """
    check_real("h", h)
    if jnp.ndim(h) < 1 or jnp.shape(h)[-1] < 2:
        raise ValueError(f"h: expected [..., n] with n ≥ 2 units, got shape {jnp.shape(h)}.")
    check_scalar("eps", eps, nonneg=True)
    mu = jnp.mean(h, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(h - mu), axis=-1, keepdims=True)
    return cast(
        Array, gamma * (h - mu) * lax.rsqrt(var + jnp.asarray(eps, h.dtype)) + beta
    )  # NumPy gamma: still a jax Array


def _normalise(h, norm, eps):
    if norm == "batch":
        return batch_norm(h, eps=eps)
    if norm == "layer":
        return layer_norm(h, eps=eps)
    return h


def _check(params, x, norm):
    if norm not in NORMS:
        raise ValueError(f"norm: unknown {norm!r}; expected one of {NORMS}.")
    if not isinstance(params, MLP) or isinstance(params.weights, (tuple, list)):  # not stacked
        raise TypeError("params: expected a stacked MLP (equal widths, from init_mlp).")
    n = params.weights.shape[-1]
    check_real("x", x)
    if jnp.ndim(x) != 2 or jnp.shape(x)[-1] != n:
        raise ValueError(f"x: expected a batch [B, {n}], got shape {jnp.shape(x)}.")
    if norm == "batch" and jnp.shape(x)[0] < 2:
        raise ValueError(f"x: BatchNorm needs a batch of B ≥ 2, got shape {jnp.shape(x)}.")


def _layer(norm, act, eps, bias=True):
    def f(p, x):
        w, b = p
        h = jnp.matmul(x, w.T, precision=HIGHEST)
        h = h + b if (bias and norm == "none") else h
        return act.fn(_normalise(h, norm, eps))

    return f


class NormForward(NamedTuple):
    """Forward pass of a normalised MLP.

    Attributes:
      output: ``[B, n]`` x_L.
      preacts: ``[L, B, n]`` the inputs of φ at every layer (after normalisation).
    """

    output: Float[Array, "B n"]
    preacts: Float[Array, "L B n"]


def norm_mlp_apply(params: MLP, x: Float[Array, "B n"], act, norm: str = "batch", eps: ArrayLike = 1e-5) -> NormForward:
    """x_l = φ(N(W_l x_{l−1})) for l = 1..L, scanned; biases are used only when ``norm="none"``
    (a normalisation removes them).

    Args:
      params: stacked :class:`~vgtheory.MLP` (``init_mlp`` with equal widths).
      x: a batch ``[B, n]``.
      act: activation name or object.
      norm: ``"batch"``, ``"layer"`` or ``"none"``.
      eps: normalisation stabiliser.

    Returns:
      :class:`NormForward` with the output and every layer's normalised pre-activations.

    Raises:
      ValueError/TypeError: unknown norm, wrong shapes, unstacked params, B < 2 for BN.
    """
    _check(params, x, norm)
    act = as_activation(act)

    def step(h, p):
        w, b = p
        a = jnp.matmul(h, w.T, precision=HIGHEST)
        a = _normalise(a + b[None, :] if norm == "none" else a, norm, eps)
        return act.fn(a), a

    out, pre = lax.scan(step, x, (params.weights, params.biases))
    return NormForward(out, pre)


def norm_mlp_gradient_flow(
    params: MLP, x: Float[Array, "B n"], act, cotangent: Float[Array, "B n"], norm: str = "batch", eps: ArrayLike = 1e-5
) -> Float[Array, " Lp1"]:
    """log‖∂L/∂x_l‖² − log‖∂L/∂x_L‖² over the whole batch, l = 0..L (renormalised scan).

    With BatchNorm the batch is one input (examples interact), so the norm is over ``[B, n]``.
    Theory for ReLU at large batch and width: each layer multiplies ‖∂L/∂x‖² by
    π/(π − 1) (``vg.theory.bn_gradient_rate``; Yang et al. 2019).
    """
    _check(params, x, norm)
    check_scalar("eps", eps, nonneg=True)
    check_real("cotangent", cotangent)
    if jnp.shape(cotangent) != jnp.shape(x):
        raise ValueError(f"cotangent, x: expected cotangent of x's shape {jnp.shape(x)}, got {jnp.shape(cotangent)}.")
    act = as_activation(act)
    return stack_gradient_flow(_layer(norm, act, eps), (params.weights, params.biases), x, cotangent)
