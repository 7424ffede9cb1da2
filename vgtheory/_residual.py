"""Residual networks x_l = x_{l−1} + α·F(x_{l−1}), F = "layer → ReLU → layer" (seed S9).

Block (as in ResNets, without the final ReLU and without normalisation):

    F(x) = W₂ ReLU(W₁ x),   W₁ entries N(0, 2/n) (He),  W₂ entries N(0, 1/n),

so E‖F(x)‖² = ‖x‖² exactly (any width). The block Jacobian is J_l = I + α W₂ D_l W₁
(D_l the ReLU mask). Depth is a ``lax.scan`` over stacked ``[L, n, n]`` weights; α is
traced. ``skip=False`` stacks the same F without the identity ("plain" network).

Also: two generic helpers for any stack x_l = block(p_l, x_{l−1}) scanned over depth:
:func:`stack_tangent_flow` (forward, log‖J_{≤l} v‖²) and :func:`stack_gradient_flow`
(backward, log‖∂L/∂x_l‖²), both renormalised every block so depth 10⁴ never
under/overflows.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float

from ._checks import (check_callable, check_int, check_nonzero, check_output, check_real, check_scalar,
                      check_width)

HIGHEST = lax.Precision.HIGHEST


class ResNet(NamedTuple):
    """Stacked residual-block weights.

    Attributes:
      w1: ``[L, n, n]`` first layer of each block (He: variance 2/n).
      w2: ``[L, n, n]`` second layer of each block (variance 1/n).
    """

    w1: Float[Array, "L n n"]
    w2: Float[Array, "L n n"]


def _check_stack(block: Callable, params, x, name: str, t) -> None:
    """``block`` callable and shape-preserving on ``x``; tangent ``t`` real, shaped like ``x``."""
    check_callable("block", block, "block(p, x) -> x'")
    check_real("x", x)
    check_real(name, t)
    if jnp.shape(t) != jnp.shape(x):
        raise ValueError(f"{name}: expected shape {jnp.shape(x)} like x, got {jnp.shape(t)}.")
    if jnp.result_type(t) != jnp.result_type(x):
        raise TypeError(f"{name}: expected x's dtype {jnp.result_type(x)}, got {jnp.result_type(t)}.")
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves or any(jnp.ndim(a) < 1 for a in leaves):
        raise ValueError("params: expected a pytree of arrays stacked over depth on axis 0.")
    p0 = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a)[1:], jnp.result_type(a)), params)
    spec = jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x))
    check_output("block", block, (p0, spec), spec.shape, spec.dtype,
                 call=f"block(params[0], x) for x of shape {spec.shape} {spec.dtype}")


def init_resnet(key: jax.Array, width: int, depth: int, *, sigma_w2_1: ArrayLike = 2.0,
                sigma_w2_2: ArrayLike = 1.0, dtype=jnp.float32) -> ResNet:
    """Random residual network of ``depth`` blocks of ``width`` units.

    Args:
      key: PRNG key.
      width: n (static int ≥ 1).
      depth: L, number of blocks (static int ≥ 1).
      sigma_w2_1, sigma_w2_2: fan-in variances σ² of W₁ and W₂ (entries N(0, σ²/n)).
      dtype: float dtype.

    Raises:
      ValueError: non-positive width/depth or negative variance.

    Example:
      >>> import jax
      >>> p = init_resnet(jax.random.PRNGKey(0), 8, 3)
      >>> p.w1.shape
      (3, 8, 8)
    """
    check_int("width", width)
    check_int("depth", depth)
    for name, v in (("sigma_w2_1", sigma_w2_1), ("sigma_w2_2", sigma_w2_2)):
        check_scalar(name, v, nonneg=True)
    z = jax.random.normal(key, (2, depth, width, width), dtype)  # one draw: small compiled graph
    s1 = jnp.sqrt(jnp.asarray(sigma_w2_1, dtype) / width)
    s2 = jnp.sqrt(jnp.asarray(sigma_w2_2, dtype) / width)
    return ResNet(s1 * z[0], s2 * z[1])


def residual_branch(w1, w2, x):
    """F(x) = W₂ ReLU(W₁ x) for ``x`` of shape ``[..., n]``."""
    h = jnp.matmul(x, w1.T, precision=HIGHEST)
    return jnp.matmul(jax.nn.relu(h), w2.T, precision=HIGHEST)


def residual_block(p, x, alpha, skip: bool = True):
    """x + α·F(x) (``skip=True``) or F(x) (``skip=False``); ``p = (w1, w2)``."""
    check_real("x", x)
    check_width("x", x, p[0].shape[-1], "the block's input width")
    check_scalar("alpha", alpha)
    f = residual_branch(p[0], p[1], x)
    return x + alpha * f if skip else f


def _check_params(params, x):
    if not isinstance(params, ResNet):
        raise TypeError(f"params: expected a ResNet (from init_resnet), got {type(params).__name__}.")
    check_real("x", x)
    n = params.w1.shape[-1]
    if jnp.ndim(x) < 1 or jnp.shape(x)[-1] != n:
        raise ValueError(f"x: expected shape [..., {n}], got {jnp.shape(x)}.")


def resnet_apply(params: ResNet, x: Float[Array, "... n"], alpha: ArrayLike = 1.0,
                 skip: bool = True) -> Float[Array, "... n"]:
    """x_L of the stacked residual (or plain, ``skip=False``) network.

    Args:
      params: a :class:`ResNet`.
      x: input ``[..., n]``.
      alpha: residual scale α (traced; e.g. 1 or 1/√L).
      skip: include the identity path.
    """
    _check_params(params, x)
    check_scalar("alpha", alpha)
    alpha = jnp.asarray(alpha, x.dtype)
    return lax.scan(lambda h, p: (residual_block(p, h, alpha, skip), None), x,
                    (params.w1, params.w2))[0]


def stack_tangent_flow(block: Callable, params, x: Array, v: Array) -> Float[Array, " Lp1"]:
    """log‖J_{1..l} v‖² − log‖v‖², l = 0..L, for x_l = block(p_l, x_{l−1}) (forward mode).

    Args:
      block: ``block(p, x) -> x'`` (shape-preserving).
      params: pytree whose leaves are stacked over depth on axis 0.
      x: input (any shape the block accepts).
      v: tangent, same shape as ``x``.

    Returns:
      ``[L+1]`` cumulative log squared gains (first entry 0). Renormalised each block.

    Raises:
      TypeError: ``block`` not callable, complex ``x`` or ``v``.
      ValueError: ``v`` not shaped like ``x``, a block that fails on ``x`` or changes its
        shape, or a concrete ``v`` that is zero or non-finite (under ``jit`` such a ``v``
        gives NaN: the relative gain is undefined).
    """
    _check_stack(block, params, x, "v", v)
    check_nonzero("v", v, what="tangent")

    def step(carry, p):
        h, t, acc = carry
        h1, t1 = jax.jvp(lambda z: block(p, z), (h,), (t,))
        s = jnp.sum(t1 * t1)
        return (h1, t1 / jnp.sqrt(s), acc + jnp.log(s)), acc + jnp.log(s)

    v0 = v / jnp.sqrt(jnp.sum(v * v))
    zero = jnp.zeros((), x.dtype)
    _, logs = lax.scan(step, (x, v0, zero), params)
    return jnp.concatenate([zero[None], logs])


def stack_gradient_flow(block: Callable, params, x: Array, cotangent: Array) -> Float[Array, " Lp1"]:
    """log‖∂L/∂x_l‖² − log‖∂L/∂x_L‖², l = 0..L, for ∂L/∂x_L = ``cotangent`` (reverse mode).

    Args:
      block: ``block(p, x) -> x'`` (shape-preserving).
      params: pytree stacked over depth on axis 0.
      x: input x_0.
      cotangent: ∂L/∂x_L, same shape as ``x``.

    Returns:
      ``[L+1]`` log squared gradient norms relative to the top (last entry 0).

    Raises:
      TypeError: ``block`` not callable, complex ``x`` or ``cotangent``.
      ValueError: ``cotangent`` not shaped like ``x``, a block that fails on ``x`` or
        changes its shape, or a concrete ``cotangent`` that is zero or non-finite (under
        ``jit`` such a cotangent gives NaN: the relative norms are undefined).
    """
    _check_stack(block, params, x, "cotangent", cotangent)
    check_nonzero("cotangent", cotangent, what="cotangent")

    def fwd(h, p):
        return block(p, h), h

    _, xs = lax.scan(fwd, x, params)

    def bwd(carry, pin):
        g, acc = carry
        p, h = pin
        g1 = jax.vjp(lambda z: block(p, z), h)[1](g)[0]
        s = jnp.sum(g1 * g1)
        return (g1 / jnp.sqrt(s), acc + jnp.log(s)), acc + jnp.log(s)

    g0 = cotangent / jnp.sqrt(jnp.sum(cotangent * cotangent))
    zero = jnp.zeros((), x.dtype)
    _, logs = lax.scan(bwd, (g0, zero), (params, xs), reverse=True)
    return jnp.concatenate([logs, zero[None]])


def resnet_log_gain(params: ResNet, x: Float[Array, " n"], v: Float[Array, " n"],
                    alpha: ArrayLike = 1.0, skip: bool = True) -> Float[Array, " Lp1"]:
    """log(‖J_{≤l} v‖²/‖v‖²), l = 0..L, for the residual network's input–output Jacobian.

    E over v ~ N(0, I) of ‖J v‖² = ‖J‖_F² = E over g of ‖Jᵀ g‖², so the mean of
    exp(gain) is also the backward gradient growth E‖∂L/∂x₀‖²/‖∂L/∂x_L‖² for a random
    cotangent. Theory: E exp(gain_L) = (1 + α²)^L exactly (``vg.theory.residual_gain``).

    Raises:
      TypeError: ``params`` not a :class:`ResNet`; ``x`` or ``v`` not real, or ``v`` not in
        ``x``'s dtype.
      ValueError: ``x`` or ``v`` not a vector ``[n]``; non-finite ``alpha``; a concrete
        ``v`` that is zero or non-finite (under ``jit`` such a ``v`` gives NaN).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> p = init_resnet(jax.random.PRNGKey(0), 16, 4)
      >>> resnet_log_gain(p, jnp.ones(16), jnp.ones(16), 0.5).shape
      (5,)
    """
    _check_params(params, x)
    n = params.w1.shape[-1]
    if jnp.ndim(x) != 1:
        raise ValueError(f"x: expected one input vector [{n}], got shape {jnp.shape(x)}.")
    if jnp.shape(v) != jnp.shape(x):
        raise ValueError(f"v: expected shape {jnp.shape(x)} like x, got {jnp.shape(v)}.")
    check_scalar("alpha", alpha)
    alpha = jnp.asarray(alpha, x.dtype)
    return stack_tangent_flow(lambda p, z: residual_block(p, z, alpha, skip),
                              (params.w1, params.w2), x, v)
