"""Deep self-attention and rank collapse (Dong, Cordonnier & Loukas 2021, L10).

Single-head self-attention on a token matrix X ∈ ℝ^{T×d}:

    SA(X) = softmax(X W_Q (X W_K)ᵀ/√d) X W_V,    entries of W_Q, W_K, W_V ~ N(0, 1/d).

Stacks (depth is a ``lax.scan`` over ``[L, d, d]`` weights):

    "pure":    X ← SA(X)                  (no skip; collapses to rank 1)
    "skip":    X ← X + SA(X)
    "skip_ln": X ← LN(X + SA(X))          (post-LN, as in the original Transformer)
    "ln":      X ← LN(SA(X))

Rank collapse is measured by the relative residual from the best "all tokens equal"
approximation 1x̄ᵀ (x̄ the token mean, the Frobenius-optimal choice):

    res(X) = ‖X − 1x̄ᵀ‖_F / ‖X‖_F ∈ [0, 1].

Near collapse (X = 1xᵀ + R) the row-independent part of the attention matrix maps R to
a tokens-equal matrix, and the row-dependent part is O(‖R‖²), so res(X_{l+1}) = O(res(X_l)³):
a doubly exponential collapse, res_L ~ c^{(3^L−1)/2} res_0^{3^L} (the form of Dong et al.'s 2021 bound).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float

from ._norm import layer_norm
from ._checks import check_float_dtype, check_int, check_nonzero, check_real, check_width
from ._numerics import HIGHEST as HIGHEST

VARIANTS = ("pure", "skip", "skip_ln", "ln")


class Attention(NamedTuple):
    """Stacked single-head attention weights, each ``[L, d, d]``."""

    wq: Float[Array, "L d d"]
    wk: Float[Array, "L d d"]
    wv: Float[Array, "L d d"]


def init_attention(key: jax.Array, dim: int, depth: int, dtype=jnp.float32) -> Attention:
    """Random attention stack, entries N(0, 1/d).

    Raises:
      ValueError: non-positive ``dim`` or ``depth``.

    Example:
      >>> import jax
      >>> init_attention(jax.random.PRNGKey(0), 4, 2).wq.shape
      (2, 4, 4)
    """
    check_int("dim", dim)
    check_int("depth", depth)
    dtype = check_float_dtype("dtype", dtype)
    z = jax.random.normal(key, (3, depth, dim, dim), dtype) / math.sqrt(dim)
    return Attention(z[0], z[1], z[2])


def self_attention(wq, wk, wv, x: Float[Array, "T d"]) -> Float[Array, "T d"]:
    """softmax(X W_Q (X W_K)ᵀ/√d) X W_V for one head."""
    check_real("x", x)
    if jnp.ndim(x) != 2:
        raise ValueError(f"x: expected a token matrix [T, d], got shape {jnp.shape(x)}.")
    sq = jnp.shape(wq)
    if len(sq) != 2 or sq[0] != sq[1]:
        raise ValueError(f"wq: expected a square matrix [d, d], got shape {sq}.")
    d = sq[0]
    for name, w in (("wk", wk), ("wv", wv)):
        if jnp.shape(w) != (d, d):
            raise ValueError(f"{name}: expected shape ({d}, {d}) as wq, got {jnp.shape(w)}.")
    check_width("x", x, d, "the size of wq")
    q = jnp.matmul(x, wq, precision=HIGHEST)
    k = jnp.matmul(x, wk, precision=HIGHEST)
    a = jax.nn.softmax(jnp.matmul(q, k.T, precision=HIGHEST) / math.sqrt(d), axis=-1)
    return jnp.matmul(a, jnp.matmul(x, wv, precision=HIGHEST), precision=HIGHEST)


def attention_block(p, x, variant: str = "pure"):
    """One block of the given ``variant`` (see module docstring); ``p = (wq, wk, wv)``."""
    s = self_attention(p[0], p[1], p[2], x)
    if variant == "pure":
        return s
    if variant == "skip":
        return x + s
    if variant == "skip_ln":
        return layer_norm(x + s)
    if variant == "ln":
        return layer_norm(s)
    raise ValueError(f"variant: unknown {variant!r}; expected one of {VARIANTS}.")


def rank_one_residual(x: Float[Array, "... T d"]) -> Float[Array, "..."]:
    """res(X) = ‖X − 1x̄ᵀ‖_F/‖X‖_F, the relative distance from "all tokens equal".

    Raises:
      TypeError: ``x`` not real. ValueError: ``x`` not ``[..., T, d]``, or a concrete ``x``
      holding a zero (or non-finite) token matrix, for which res is undefined (0/0; under
      ``jit`` such a matrix gives NaN).

    Example:
      >>> import jax.numpy as jnp
      >>> float(rank_one_residual(jnp.ones((3, 2))))
      0.0
    """
    check_real("x", x)
    if jnp.ndim(x) < 2:
        raise ValueError(f"x: expected a token matrix [..., T, d], got shape {jnp.shape(x)}.")
    check_nonzero("x", x, axis=(-2, -1), what="token matrix")
    r = x - jnp.mean(x, axis=-2, keepdims=True)
    return jnp.sqrt(jnp.sum(r * r, axis=(-2, -1)) / jnp.sum(x * x, axis=(-2, -1)))


def attention_residuals(params: Attention, x: Float[Array, "T d"], variant: str = "pure") -> Float[Array, " Lp1"]:
    """res(X_l) for l = 0..L through the stack.

    Args:
      params: an :class:`Attention` stack.
      x: tokens ``[T, d]`` with T ≥ 2.
      variant: ``"pure" | "skip" | "skip_ln" | "ln"``.

    Returns:
      ``[L+1]`` relative residuals (res_0 first).

    Raises:
      ValueError/TypeError: unknown variant, shape mismatch, T < 2.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant: unknown {variant!r}; expected one of {VARIANTS}.")
    if not isinstance(params, Attention):
        raise TypeError(f"params: expected an Attention stack, got {type(params).__name__}.")
    d = params.wq.shape[-1]
    if jnp.ndim(x) != 2 or x.shape[-1] != d or x.shape[0] < 2:
        raise ValueError(f"x: expected tokens [T ≥ 2, {d}], got shape {jnp.shape(x)}.")

    def step(h, p):
        h1 = attention_block(p, h, variant)
        return h1, rank_one_residual(h1)

    _, res = lax.scan(step, x, tuple(params))
    return jnp.concatenate([rank_one_residual(x)[None], res])
