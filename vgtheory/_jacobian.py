"""Exact input–output Jacobians and per-layer gradient flow.

For the MLP convention of :mod:`vgtheory._mlp`, the layer Jacobian is
J_l = ∂x_l/∂x_{l−1} = D_l W_l with D_l = diag φ'(h_l), the end-to-end Jacobian is
J = J_L ⋯ J_1, and a cotangent g_L = ∂L/∂x_L is pulled back by g_{l−1} = W_lᵀ D_l g_l.
The pull-back is renormalised every layer and log-norms are accumulated (Kahan-compensated),
so depth 10^4 neither underflows nor overflows, even in float32.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, cast

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float

from ._checks import ArgumentTypeError, MatmulPrecision, check_callable, check_precision, ScopedPrecision, check_real
from ._mlp import MLP, check_input, preactivations
from ._activations import as_activation

PyTree = Any


def _check_point(name: str, x) -> None:
    """``x`` must be a real floating array or a non-empty pytree of them."""
    leaves = jax.tree_util.tree_leaves(x)
    if not leaves:
        raise ValueError(f"{name}: expected an array or a pytree of arrays, got an empty pytree.")
    for leaf in leaves:
        check_real(name, leaf)


def _check_map(f: Callable, x) -> Any:
    """``f(x)`` must trace and return real floating arrays (a pytree of them); returns its shapes."""
    check_callable("f", f, "f(x) -> y")
    _check_point("x", x)
    try:
        out = jax.eval_shape(f, x)
    except (TypeError, ValueError) as e:
        raise ValueError(f"f: calling f(x) for x of shape {jax.tree.map(jnp.shape, x)} failed: {e}") from None
    for leaf in jax.tree_util.tree_leaves(out):
        if not jnp.issubdtype(leaf.dtype, jnp.floating):
            raise ArgumentTypeError(f"f: expected f(x) to return real floating arrays, got dtype {leaf.dtype}.")
    return out


def input_jacobian(f: Callable, x: PyTree, mode: str = "rev", precision: ScopedPrecision = "highest") -> PyTree:
    """Dense Jacobian ∂f/∂x of any JAX callable (a Flax ``module.apply`` closure included).

    Shaped exactly like ``jax.jacrev(f)(x)``: for an array ``x`` and an array ``y = f(x)``,
    ``y.shape + x.shape`` (``[m, n]`` for vectors; ``(10, 8, 8, 3)`` for ten logits of an
    8×8×3 image); for pytrees, the nested pytree ``jax.jacrev`` returns (outer structure of
    ``y``, inner of ``x``).

    Args:
      f: ``f(x) -> y``, arrays or pytrees of real floating arrays.
      x: the point, any shape or pytree.
      mode: ``"rev"`` (jacrev, one VJP per output entry) or ``"fwd"`` (jacfwd, one JVP per
        input entry).
      precision: default matmul precision while tracing ``f`` (``"highest"`` unless asked).

    Returns:
      The Jacobian, as ``jax.jacrev`` shapes it.

    Raises:
      ValueError: unknown ``mode``, empty ``x``, or ``f(x)`` fails to trace.
      TypeError: ``f`` not callable, non-floating ``x`` or ``f(x)``.

    Example:
      >>> import jax.numpy as jnp
      >>> input_jacobian(lambda x: jnp.sum(x**2, axis=1), jnp.ones((2, 3))).shape
      (2, 2, 3)
    """
    if mode not in ("rev", "fwd"):
        raise ValueError(f"mode: expected 'rev' or 'fwd', got {mode!r}.")
    precision = check_precision(precision, scoped=True)
    _check_map(f, x)
    jac = jax.jacrev if mode == "rev" else jax.jacfwd
    with jax.default_matmul_precision(precision):
        return jac(f)(x)


class JacobianOperator(NamedTuple):
    """Matrix-free Jacobian of ``f`` at a point, on flattened vectors (``ravel_pytree``).

    Attributes:
      mv: ``mv(v: [n]) -> [m]``, J v (a jvp).
      rmv: ``rmv(u: [m]) -> [n]``, Jᵀ u (a vjp).
      shape: ``(m, n)``: the sizes of the flattened output and input.
      dtype: the dtype of the flat vectors (the input's leaves promoted to one).

    For an input and output of any shape or pytree, J is the ``[m, n]`` matrix of the
    flattened map ravel(y) ← ravel(x), so its spectra (``vg.singular_values(op)``,
    ``vg.spectrum(op)``) are those of that map; ``as_matrix()`` materialises it.
    """

    mv: Callable
    rmv: Callable
    shape: tuple
    dtype: Any = None

    def as_matrix(self) -> Float[Array, "m n"]:
        """The dense ``[m, n]`` matrix, by min(m, n) batched jvps or vjps."""
        m, n = self.shape
        if n <= m:
            return jax.vmap(self.mv, out_axes=1)(jnp.eye(n, dtype=self.dtype))
        return jax.vmap(self.rmv)(jnp.eye(m, dtype=self.dtype))


def jacobian_operator(f: Callable, x: PyTree, precision: ScopedPrecision = "highest") -> JacobianOperator:
    """Linearises ``f`` at ``x`` once; J v and Jᵀ u then cost one forward/backward pass each.

    ``x`` and ``f(x)`` may be arrays of any shape or pytrees; the operator acts on their
    flattened (``jax.flatten_util.ravel_pytree``) vectors, and vectors of another dtype are
    cast to that of the flat input/output.
    """
    precision = check_precision(precision, scoped=True)
    _check_map(f, x)
    flat_x, unravel_x = ravel_pytree(x)
    with jax.default_matmul_precision(precision):
        y, lin = jax.linearize(f, x)
        lin_t = jax.linear_transpose(lin, x)
    flat_y, unravel_y = ravel_pytree(y)

    def mv(v):
        return ravel_pytree(lin(unravel_x(jnp.asarray(v).astype(flat_x.dtype))))[0]

    def rmv(u):
        return ravel_pytree(lin_t(unravel_y(jnp.asarray(u).astype(flat_y.dtype)))[0])[0]

    return JacobianOperator(mv, rmv, (flat_y.size, flat_x.size), flat_x.dtype)


def _layer_inputs(params: MLP, x, act, precision):
    hs = preactivations(params, x, act, precision)
    if params.stacked:
        xs = jnp.concatenate([x[None], act.fn(hs[:-1])], axis=0)
        return hs, xs
    return hs, [x] + [act.fn(h) for h in hs[:-1]]


def layer_jacobians(params: MLP, x: Float[Array, " n0"], act, precision: MatmulPrecision = "highest"):
    """Per-layer Jacobians J_l = diag φ'(h_l) W_l.

    Returns:
      ``[L, n, n]`` (stacked params) or a list of ``[n_l, n_{l−1}]``.
    """
    act = as_activation(act)
    check_precision(precision)
    _check_vector(params, x)
    hs = preactivations(params, x, act, precision)
    if params.stacked:
        return act.deriv(cast(Array, hs))[..., :, None] * params.weights  # stacked: hs is [L, n]
    return [act.deriv(h)[:, None] * w for h, w in zip(hs, params.weights)]


def chain_product(mats: Float[Array, "L n n"], precision="highest", order: str = "sequential") -> Float[Array, "n n"]:
    """The ordered product M_L ⋯ M_2 M_1 of a stack ``mats[l−1] = M_l`` (L − 1 matmuls).

    Args:
      mats: ``[L, n, n]``, L ≥ 1.
      precision: anything ``jnp.matmul`` takes: ``"highest"`` (true float32 on GPUs),
        or a ``jax.lax.DotAlgorithmPreset`` such as ``TF32_TF32_F32_X3`` (float32 accuracy
        from three TF32 tensor-core passes, where the backend supports it).
      order: ``"sequential"`` (a scan: J ← M_l J, one n×n×n matmul per step) or
        ``"tree"`` (pairwise: ⌈log₂ L⌉ rounds of batched matmuls, each round halving the
        stack — the same L − 1 products, in fewer and larger kernels).

    Returns:
      ``[n, n]``. The two orders agree up to floating-point reassociation.
    """
    if order not in ("sequential", "tree"):
        raise ValueError(f"order: expected 'sequential' or 'tree', got {order!r}.")
    if jnp.ndim(mats) != 3 or mats.shape[0] < 1 or mats.shape[1] != mats.shape[2]:
        raise ValueError(
            f"mats: expected a stack of square matrices [L, n, n] with L ≥ 1, got shape {jnp.shape(mats)}."
        )
    check_real("mats", mats)
    check_precision(precision)
    if order == "sequential":
        return jax.lax.scan(lambda J, M: (jnp.matmul(M, J, precision=precision), None), mats[0], mats[1:])[0]
    while mats.shape[0] > 1:  # static: the stack length is a Python int
        odd = mats[-1:] if mats.shape[0] % 2 else mats[:0]
        pairs = jnp.matmul(mats[1::2], mats[0 : mats.shape[0] - mats.shape[0] % 2 : 2], precision=precision)
        mats = jnp.concatenate([pairs, odd], axis=0)
    return mats[0]


def mlp_jacobian(
    params: MLP, x: Float[Array, " n0"], act, precision="highest", order: str = "sequential"
) -> Float[Array, "nL n0"]:
    """End-to-end Jacobian by the explicit chain J = D_L W_L ⋯ D_1 W_1.

    Independent of autodiff; used as a reference for ``input_jacobian`` and as the fast
    batched path (L − 1 matmuls of n×n×n; see :func:`chain_product` for ``precision`` and
    ``order``).
    """
    act = as_activation(act)
    check_precision(precision)
    js = layer_jacobians(params, x, act, precision)
    if params.stacked:
        return chain_product(cast(Array, js), precision, order)  # stacked: [L, n, n]
    if order not in ("sequential", "tree"):
        raise ValueError(f"order: expected 'sequential' or 'tree', got {order!r}.")
    J = js[0]
    for Jl in js[1:]:
        J = jnp.matmul(Jl, J, precision=precision)
    return J


class GradientFlow(NamedTuple):
    """Per-layer gradient norms in log domain.

    Attributes:
      log_sq_norms: ``[L+1]``, entry l is log‖∂L/∂x_l‖² (l = 0 is the input, L the output).
      weight_log_sq_norms: ``[L]``, entry l−1 is log‖∂L/∂W_l‖²_F.
      finite: whether every entry is finite (False flags saturation to exact zeros or NaN).
      direction: ``[n_0]``, the unit vector ∂L/∂x_0 / ‖∂L/∂x_0‖ (so the input gradient is
        ``direction · exp(log_sq_norms[0] / 2)`` whenever that is representable).
    """

    log_sq_norms: Float[Array, " Lp1"]
    weight_log_sq_norms: Float[Array, " L"]
    finite: Array
    direction: Float[Array, " n0"]


def _kahan_add(s, c, v):
    y = v - c
    t = s + y
    # once the sum is −inf (an exactly zero gradient) the compensation is meaningless: keep it 0
    return t, jnp.where(jnp.isfinite(t), (t - s) - y, jnp.zeros_like(t))


def gradient_flow(
    params: MLP, x: Float[Array, " n0"], act, cotangent: Float[Array, " nL"], precision: MatmulPrecision = "highest"
) -> GradientFlow:
    """Backpropagates ``cotangent`` = ∂L/∂x_L through the MLP, in log domain.

    g_{l−1} = W_lᵀ (φ'(h_l) ⊙ g_l); after each layer g is divided by its norm and the log of
    that norm is added (compensated) to a running sum. ‖∂L/∂W_l‖_F = ‖φ'(h_l) ⊙ g_l‖·‖x_{l−1}‖
    for a single input (the gradient is the outer product (D_l g_l) x_{l−1}ᵀ).

    Args:
      params: an :class:`MLP`.
      x: one input, ``[n_0]`` (vmap for batches of inputs or of networks).
      act: activation name or :class:`Activation`.
      cotangent: ``[n_L]``, the gradient of the loss with respect to the output.
      precision: matmul precision.

    Returns:
      A :class:`GradientFlow`.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from vgtheory._mlp import init_mlp
      >>> p = init_mlp(jax.random.key(0), [16] * 1001, init="gaussian", sigma_w2=1.0)
      >>> gf = gradient_flow(p, jnp.ones(16), "sigmoid", jnp.ones(16))
      >>> bool(gf.finite), bool(gf.log_sq_norms[0] < -1e3)   # ~ (1/4)^{2L}: no underflow
      (True, True)
    """
    act = as_activation(act)
    check_precision(precision)
    _check_vector(params, x)
    w = params.weights
    L_out = w[-1].shape[0] if isinstance(w, (tuple, list)) else w.shape[1]
    if jnp.shape(cotangent) != (L_out,):
        raise ValueError(f"cotangent: expected shape ({L_out},) to match the output, got {jnp.shape(cotangent)}.")
    if jnp.issubdtype(jnp.result_type(cotangent), jnp.complexfloating):
        raise TypeError(f"cotangent: expected a real vector, got dtype {jnp.result_type(cotangent)}.")
    hs, xs = _layer_inputs(params, x, act, precision)
    dtype = jnp.result_type(x, params.weights if params.stacked else params.weights[0])
    g0 = jnp.asarray(cotangent, dtype)
    n0 = jnp.linalg.norm(g0)
    zero = jnp.zeros((), dtype)

    def step(carry, layer):
        g, s, c = carry
        w, h, xin = layer
        dg = act.deriv(h) * g
        wlog = 2 * (s + jnp.log(jnp.linalg.norm(dg))) + 2 * jnp.log(jnp.linalg.norm(xin))
        g_new = jnp.matmul(dg, w, precision=precision)
        nrm = jnp.linalg.norm(g_new)
        s, c = _kahan_add(s, c, jnp.log(nrm))
        return (g_new / jnp.where(nrm > 0, nrm, 1), s, c), (2 * s, wlog)  # 0 stays 0 (log −inf)

    init = (g0 / jnp.where(n0 > 0, n0, 1), jnp.log(n0), zero)
    if params.stacked:
        (g_dir, _, _), (logs, wlogs) = jax.lax.scan(step, init, (params.weights, hs, xs), reverse=True)
    else:
        carry, outs = init, []
        for w, h, xin in reversed(list(zip(params.weights, hs, xs))):
            carry, o = step(carry, (w, h, xin))
            outs.append(o)
        g_dir = carry[0]
        logs = jnp.stack([o[0] for o in outs[::-1]])
        wlogs = jnp.stack([o[1] for o in outs[::-1]])
    log_sq = jnp.concatenate([logs, (2 * jnp.log(n0))[None]])
    finite = jnp.all(jnp.isfinite(log_sq)) & jnp.all(jnp.isfinite(wlogs))
    return GradientFlow(log_sq, wlogs, finite, g_dir)


def _check_vector(params, x):
    check_input(params, x)
    if jnp.ndim(x) != 1:
        raise ValueError(f"x: expected a single input [n_0] (vmap for batches), got shape {jnp.shape(x)}.")
