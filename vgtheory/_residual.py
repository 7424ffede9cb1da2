"""Residual networks x_l = x_{l−1} + α·F(x_{l−1}), F = "layer → ReLU → layer" (seed S9).

Block (as in ResNets, without the final ReLU and without normalisation):

    F(x) = W₂ ReLU(W₁ x),   W₁ entries N(0, 2/n) (He),  W₂ entries N(0, 1/n),

so E‖F(x)‖² = ‖x‖² exactly (any width). The block Jacobian is J_l = I + α W₂ D_l W₁
(D_l the ReLU mask). Depth is a ``lax.scan`` over stacked ``[L, n, n]`` weights; α is
traced. ``skip=False`` stacks the same F without the identity ("plain" network).

Also: two generic helpers for any stack x_l = block(p_l, x_{l−1}) scanned over depth:
:func:`stack_tangent_flow` (forward, log‖J_{≤l} v‖²) and :func:`stack_gradient_flow`
(backward, log‖∂L/∂x_l‖²), both renormalised every block so depth 10⁴ never
under/overflows. With ``full_output=True`` they return a :class:`StackFlow` whose
``resolved``/``log_floor`` flag gains at the accumulated rounding floor.
"""

from __future__ import annotations

from typing import Callable, Literal, NamedTuple, overload

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Bool, Float

from ._checks import (
    check_bool,
    check_callable,
    check_int,
    check_nonzero,
    check_output,
    check_real,
    check_scalar,
    check_width,
)
from ._numerics import HIGHEST as HIGHEST


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
    check_output(
        "block",
        block,
        (p0, spec),
        spec.shape,
        spec.dtype,
        call=f"block(params[0], x) for x of shape {spec.shape} {spec.dtype}",
    )


def init_resnet(
    key: jax.Array,
    width: int,
    depth: int,
    *,
    sigma_w2_1: ArrayLike = 2.0,
    sigma_w2_2: ArrayLike = 1.0,
    dtype=jnp.float32,
) -> ResNet:
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


def resnet_apply(
    params: ResNet, x: Float[Array, "... n"], alpha: ArrayLike = 1.0, skip: bool = True
) -> Float[Array, "... n"]:
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
    return lax.scan(lambda h, p: (residual_block(p, h, alpha, skip), None), x, (params.w1, params.w2))[0]


class StackFlow(NamedTuple):
    """Log gains through a stack of blocks, with rounding-floor flags.

    Attributes:
      log_sq_norms: ``[L+1]`` the log squared norms (as the plain return of the flow).
      finite: whether every entry is finite (False where a block maps the carried vector to
        exactly zero, e.g. a dead ReLU layer: that entry and all later ones are −inf).
      resolved: ``[L+1]`` False from the first block whose stretching of the carried
        vector is at or below its rounding floor onwards (the true gain could be 0).
      log_floor: ``[L+1]`` accumulated floor of ``log_sq_norms`` (−inf where nothing has
        been accumulated yet); a resolved entry lies above it.
    """

    log_sq_norms: Float[Array, " Lp1"]
    finite: Array
    resolved: Bool[Array, " Lp1"]
    log_floor: Float[Array, " Lp1"]


_N_PROBES = 3


def _probes(x):
    """Fixed unit Gaussian probes shaped like ``x`` (an estimate of ‖J‖_F, not user randomness)."""
    z = jax.random.normal(jax.random.key(0x5EED), (_N_PROBES,) + jnp.shape(x), jnp.result_type(x))
    axes = tuple(range(1, z.ndim))
    return z / jnp.sqrt(jnp.sum(z * z, axis=axes, keepdims=True))


def _flow_step(u1, probe_out, acc, fl, dmax):
    """Renormalise ``u1``; accumulate log‖u1‖² and the floor recursion (log² units).

    log φ² = log((2ε)² N ‖J‖_F²) with ‖J‖_F² ≈ (N/k) Σ_j ‖J p_j‖² from k fixed unit probes
    (N = size of x); F ← max(F + log s, G + log φ²), D ← max(D, log φ² − log s).
    """
    s = jnp.sum(u1 * u1)
    u = jnp.where(s > 0, u1 / jnp.sqrt(jnp.where(s > 0, s, 1.0)), jnp.zeros_like(u1))  # 0 stays 0
    logs = jnp.log(s)
    if probe_out is None:
        return u, acc + logs, fl, dmax
    eps = jnp.finfo(u1.dtype).eps
    axes = tuple(range(1, probe_out.ndim))
    jf2 = jnp.mean(jnp.sum(probe_out * probe_out, axis=axes)) * u1.size
    phi2 = 2 * jnp.log(2 * eps) + jnp.log(jf2) + jnp.log(float(u1.size))
    fl = jnp.maximum(fl + logs, jnp.where(acc == -jnp.inf, -jnp.inf, acc + phi2))
    dmax = jnp.maximum(dmax, jnp.where(s > 0, phi2 - logs, jnp.inf))
    return u, acc + logs, fl, dmax


def _flow_result(logs, fls, dms, full_output):
    if not full_output:
        return logs
    resolved = (dms < 0) & (logs > fls)  # NaN (a non-finite block) → False; D is a running max
    return StackFlow(logs, jnp.all(jnp.isfinite(logs)), resolved, fls)


@overload
def stack_tangent_flow(
    block: Callable, params, x: Array, v: Array, *, full_output: Literal[False] = False
) -> Float[Array, " Lp1"]: ...
@overload
def stack_tangent_flow(
    block: Callable, params, x: Array, v: Array, *, full_output: bool
) -> Float[Array, " Lp1"] | StackFlow: ...
def stack_tangent_flow(
    block: Callable, params, x: Array, v: Array, *, full_output: bool = False
) -> Float[Array, " Lp1"] | StackFlow:
    """log‖J_{1..l} v‖² − log‖v‖², l = 0..L, for x_l = block(p_l, x_{l−1}) (forward mode).

    Rounding floor (``full_output=True``): the carried unit vector u arrives with a rounding
    error δ of relative size ~ε per entry (sums over N terms: ‖δ‖ ≲ √N ε), and J_l stretches
    it by up to ‖J_l‖; computing J_l u adds ~√N ε ‖J_l‖_F (|fl(Jx) − Jx| ≤ γ_N |J||x|). So a
    stretching ‖J_l u‖ at or below φ_l = 2ε√N‖J_l‖_F is not resolved — u may lie in the
    null space of J_l (a projector pair P_u, I − P_u gives rounding instead of 0: measured
    2–12 nats² below φ² over N = 4..64, float32/64, both flows, 24 draws). ‖J_l‖_F is estimated matrix-free from 3 fixed
    unit probes p_j, ‖J_l‖_F² ≈ (N/3) Σ_j ‖J_l p_j‖² (N = size of x; 3 more linear
    applications per block, only when asked). In the log domain the accumulated floor obeys
    F ← max(F + log‖J_l u‖², G + log φ_l²) (G the log gain so far): the largest value the
    flow could show if one block's stretching were at its floor. An entry is resolved iff
    every block up to it stretched above its floor, i.e. iff it lies above F.

    Args:
      block: ``block(p, x) -> x'`` (shape-preserving).
      params: pytree whose leaves are stacked over depth on axis 0.
      x: input (any shape the block accepts).
      v: tangent, same shape as ``x``.
      full_output: return a :class:`StackFlow` (with ``finite``, ``resolved``,
        ``log_floor``) instead of the bare array (static).

    Returns:
      ``[L+1]`` cumulative log squared gains (first entry 0), renormalised each block; or a
      :class:`StackFlow`. A block that maps the tangent to exactly zero (a dead ReLU layer)
      gives −inf from there on (never NaN).

    Raises:
      TypeError: ``block`` not callable, complex ``x`` or ``v``, ``full_output`` not a bool.
      ValueError: ``v`` not shaped like ``x``, a block that fails on ``x`` or changes its
        shape, or a concrete ``v`` that is zero or non-finite (under ``jit`` such a ``v``
        gives NaN: the relative gain is undefined).
    """
    full_output = check_bool("full_output", full_output)
    _check_stack(block, params, x, "v", v)
    check_nonzero("v", v, what="tangent")
    probes = _probes(x) if full_output else None

    def step(carry, p):
        h, t, acc, fl, dm = carry
        if full_output:
            assert probes is not None
            h1, lin = jax.linearize(lambda z: block(p, z), h)
            outs = jax.vmap(lin)(jnp.concatenate([t[None], probes]))
            t1, pout = outs[0], outs[1:]
        else:
            (h1, t1), pout = jax.jvp(lambda z: block(p, z), (h,), (t,)), None
        t, acc, fl, dm = _flow_step(t1, pout, acc, fl, dm)
        return (h1, t, acc, fl, dm), (acc, fl, dm)

    v0 = v / jnp.sqrt(jnp.sum(v * v))
    zero = jnp.zeros((), x.dtype)
    ninf = jnp.full((), -jnp.inf, x.dtype)
    _, (logs, fls, dms) = lax.scan(step, (x, v0, zero, ninf, ninf), params)
    return _flow_result(
        jnp.concatenate([zero[None], logs]),
        jnp.concatenate([ninf[None], fls]),
        jnp.concatenate([ninf[None], dms]),
        full_output,
    )


@overload
def stack_gradient_flow(
    block: Callable, params, x: Array, cotangent: Array, *, full_output: Literal[False] = False
) -> Float[Array, " Lp1"]: ...
@overload
def stack_gradient_flow(
    block: Callable, params, x: Array, cotangent: Array, *, full_output: bool
) -> Float[Array, " Lp1"] | StackFlow: ...
def stack_gradient_flow(
    block: Callable, params, x: Array, cotangent: Array, *, full_output: bool = False
) -> Float[Array, " Lp1"] | StackFlow:
    """log‖∂L/∂x_l‖² − log‖∂L/∂x_L‖², l = 0..L, for ∂L/∂x_L = ``cotangent`` (reverse mode).

    Rounding floor (``full_output=True``): as :func:`stack_tangent_flow`, with the pull-back
    J_lᵀ g in place of J_l u and ‖J_lᵀ‖_F = ‖J_l‖_F estimated from 3 fixed probe cotangents.

    Args:
      block: ``block(p, x) -> x'`` (shape-preserving).
      params: pytree stacked over depth on axis 0.
      x: input x_0.
      cotangent: ∂L/∂x_L, same shape as ``x``.
      full_output: return a :class:`StackFlow` (with ``finite``, ``resolved``,
        ``log_floor``) instead of the bare array (static).

    Returns:
      ``[L+1]`` log squared gradient norms relative to the top (last entry 0); or a
      :class:`StackFlow`. An exactly zero gradient (a dead ReLU layer) stays zero: log −inf
      below it, never NaN (as :func:`vgtheory.gradient_flow`).

    Raises:
      TypeError: ``block`` not callable, complex ``x`` or ``cotangent``, ``full_output`` not
        a bool.
      ValueError: ``cotangent`` not shaped like ``x``, a block that fails on ``x`` or
        changes its shape, or a concrete ``cotangent`` that is zero or non-finite (under
        ``jit`` such a cotangent gives NaN: the relative norms are undefined).
    """
    full_output = check_bool("full_output", full_output)
    _check_stack(block, params, x, "cotangent", cotangent)
    check_nonzero("cotangent", cotangent, what="cotangent")
    probes = _probes(x) if full_output else None

    def fwd(h, p):
        return block(p, h), h

    _, xs = lax.scan(fwd, x, params)

    def bwd(carry, pin):
        g, acc, fl, dm = carry
        p, h = pin
        pull = jax.vjp(lambda z: block(p, z), h)[1]
        if full_output:
            assert probes is not None
            outs = jax.vmap(lambda c: pull(c)[0])(jnp.concatenate([g[None], probes]))
            g1, pout = outs[0], outs[1:]
        else:
            g1, pout = pull(g)[0], None
        g, acc, fl, dm = _flow_step(g1, pout, acc, fl, dm)
        return (g, acc, fl, dm), (acc, fl, dm)

    g0 = cotangent / jnp.sqrt(jnp.sum(cotangent * cotangent))
    zero = jnp.zeros((), x.dtype)
    ninf = jnp.full((), -jnp.inf, x.dtype)
    _, (logs, fls, dms) = lax.scan(bwd, (g0, zero, ninf, ninf), (params, xs), reverse=True)
    return _flow_result(
        jnp.concatenate([logs, zero[None]]),
        jnp.concatenate([fls, ninf[None]]),
        jnp.concatenate([dms, ninf[None]]),
        full_output,
    )


def resnet_log_gain(
    params: ResNet, x: Float[Array, " n"], v: Float[Array, " n"], alpha: ArrayLike = 1.0, skip: bool = True
) -> Float[Array, " Lp1"]:
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
    return stack_tangent_flow(lambda p, z: residual_block(p, z, alpha, skip), (params.w1, params.w2), x, v)
