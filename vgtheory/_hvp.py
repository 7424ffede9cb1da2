"""Hessian-vector products, dense Hessians and per-block restriction for any scalar loss.

A loss is any function ``loss_fn(params) -> scalar`` over a parameter pytree (a Flax
``variables`` dict, an :class:`~vgtheory.MLP`, a tuple of arrays, ...); close over data
with ``functools.partial`` or a lambda. The Hessian is never materialised unless asked:
``H v`` is the forward-mode derivative of the reverse-mode gradient (forward-over-reverse),
about 2–3 gradient evaluations in cost (Pearlmutter 1994).

Per-layer and per-block Hessians are first-class: a ``mask`` pytree (same structure as
``params``; each leaf ``True``/``False`` or a boolean array broadcastable to the leaf)
selects the coordinates, and the operator acts on those coordinates only, i.e. on
``P H Pᵀ`` where ``P`` picks the selected entries.

References:
  B. A. Pearlmutter, "Fast exact multiplication by the Hessian", Neural Computation 1994.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float

from ._cache import cached
from ._checks import check_callable, check_int, check_real, check_real_or_int

PyTree = Any


def check_scalar_loss(loss_fn: Callable, params: PyTree) -> None:
    """Raises TypeError unless ``loss_fn(params)`` is a real floating scalar (trace-time check)."""
    check_callable("loss_fn", loss_fn, "loss_fn(params) -> scalar")
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError("params: expected a pytree with at least one array leaf, got an empty pytree.")
    for leaf in leaves:
        check_real("params", leaf)
    try:
        out = jax.eval_shape(loss_fn, params)
    except TypeError as e:
        raise TypeError(f"loss_fn: calling loss_fn(params) failed: {e}") from e
    if not isinstance(out, jax.ShapeDtypeStruct) or out.shape != ():
        shape = getattr(out, "shape", type(out).__name__)
        raise TypeError(f"loss_fn: expected a scalar loss (shape ()), got output shape {shape}.")
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise TypeError(f"loss_fn: expected a floating loss, got dtype {out.dtype}.")


def check_tangent(name: str, tree: PyTree, params: PyTree) -> None:
    """``tree`` must be a real tangent of ``params``: its pytree structure and leaf shapes
    (ValueError), with floating or integer leaves (TypeError)."""
    s1, s2 = jax.tree_util.tree_structure(tree), jax.tree_util.tree_structure(params)
    if s1 != s2:
        raise ValueError(f"{name}: expected the pytree structure of params {s2}, got {s1}.")
    for a, b in zip(jax.tree_util.tree_leaves(tree), jax.tree_util.tree_leaves(params)):
        if jnp.shape(a) != jnp.shape(b):
            raise ValueError(f"{name}: leaf shape {jnp.shape(a)} does not match the params leaf shape {jnp.shape(b)}.")
        check_real_or_int(name, a)


@cached
def hvp(loss_fn: Callable, params: PyTree, v: PyTree) -> PyTree:
    """Hessian-vector product ``H(params) v`` by forward-over-reverse differentiation.

    Args:
      loss_fn: ``loss_fn(params) -> scalar``.
      params: the point θ (any pytree of floating arrays).
      v: a tangent with the same structure and shapes as ``params``.

    Returns:
      ``∇²L(θ) v`` as a pytree shaped like ``params``.

    Raises:
      TypeError: if the loss is not a floating scalar, or ``v`` is complex (or boolean).
      ValueError: if ``v`` does not match ``params``.

    Example:
      >>> import jax.numpy as jnp
      >>> f = lambda p: 0.5 * jnp.sum(jnp.array([1.0, 3.0]) * p**2)
      >>> hvp(f, jnp.ones(2), jnp.array([1.0, 1.0])).tolist()
      [1.0, 3.0]
    """
    check_scalar_loss(loss_fn, params)
    check_tangent("v", v, params)
    v = jax.tree_util.tree_map(lambda a, p: jnp.asarray(a, jnp.result_type(p)), v, params)
    return jax.jvp(jax.grad(loss_fn), (params,), (v,))[1]


class HessianOperator(NamedTuple):
    """The Hessian (or one block of it) as a matrix-free operator on flat vectors.

    A symmetric :class:`~vgtheory.LinearOperator` (``shape``, ``rmatvec`` and
    ``symmetric`` are derived), so Lanczos, power iteration, SLQ and the trace estimators
    take it directly.

    Attributes:
      matvec: ``matvec(x: [dim]) -> [dim]``, the selected block of ``H`` applied to ``x``.
      dim: number of selected coordinates (a Python int).
      dtype: the parameters' dtype (all leaves promoted to one).
      to_tree: maps a flat ``[dim]`` vector to a full params-shaped pytree (zeros outside
        the block).
      from_tree: maps a params-shaped pytree to the flat ``[dim]`` block coordinates.
    """

    matvec: Callable[[Array], Array]
    dim: int
    dtype: Any
    to_tree: Callable[[Array], PyTree]
    from_tree: Callable[[PyTree], Array]

    @property
    def shape(self) -> tuple[int, int]:
        """``(dim, dim)``."""
        return (self.dim, self.dim)

    @property
    def rmatvec(self) -> Callable[[Array], Array]:
        """Hᵀ = H: the same ``matvec``."""
        return self.matvec

    @property
    def symmetric(self) -> bool:
        """Always True (a Hessian of a C² loss)."""
        return True


def _mask_indices(mask: PyTree, params: PyTree) -> np.ndarray:
    """Static flat indices (in ``ravel_pytree`` order) of the coordinates ``mask`` selects."""
    p_struct = jax.tree_util.tree_structure(params)
    try:
        m_leaves = p_struct.flatten_up_to(mask)
    except (ValueError, TypeError) as e:
        raise ValueError(f"mask: expected the pytree structure of params {p_struct}: {e}") from None
    parts, offset = [], 0
    for m, p in zip(m_leaves, jax.tree_util.tree_leaves(params)):
        shape = jnp.shape(p)
        try:
            sel = np.broadcast_to(np.asarray(m, dtype=bool), shape)
        except ValueError:
            raise ValueError(
                f"mask: leaf of shape {np.shape(m)} does not broadcast to params leaf shape {shape}."
            ) from None
        parts.append(offset + np.flatnonzero(sel.reshape(-1)))
        offset += int(np.prod(shape, dtype=np.int64))
    idx = np.concatenate(parts) if parts else np.zeros((0,), np.int64)
    if idx.size == 0:
        raise ValueError("mask: selects no coordinate; expected at least one True entry.")
    return idx


def hessian_operator(loss_fn: Callable, params: PyTree, mask: PyTree | None = None) -> HessianOperator:
    """The Hessian of ``loss_fn`` at ``params`` (optionally one block) as a flat operator.

    Args:
      loss_fn: ``loss_fn(params) -> scalar``.
      params: the point θ.
      mask: optional pytree like ``params`` whose leaves are bools or boolean arrays
        broadcastable to the leaf; the operator is then ``P H Pᵀ`` restricted to the
        selected coordinates (a per-layer or per-block Hessian). Must be concrete (numpy).

    Returns:
      A :class:`HessianOperator`; ``matvec`` is jit- and vmap-compatible.

    Example:
      >>> import jax.numpy as jnp
      >>> f = lambda p: jnp.sum(p["a"] ** 2) + 3.0 * jnp.sum(p["b"] ** 2)
      >>> op = hessian_operator(f, {"a": jnp.ones(2), "b": jnp.ones(3)}, mask={"a": False, "b": True})
      >>> op.dim, op.matvec(jnp.ones(3)).tolist()
      (3, [6.0, 6.0, 6.0])
    """
    check_scalar_loss(loss_fn, params)
    flat, unravel = ravel_pytree(params)
    dtype = flat.dtype
    grad_flat = lambda x: ravel_pytree(jax.grad(loss_fn)(unravel(x)))[0]
    n = int(flat.size)

    def full_mv(v):
        if jnp.shape(v) != (n,):
            raise ValueError(f"x: expected a flat vector of shape ({n},), got {jnp.shape(v)}.")
        return jax.jvp(grad_flat, (flat,), (v.astype(dtype),))[1]

    if mask is None:
        return HessianOperator(full_mv, n, dtype, unravel, lambda t: ravel_pytree(t)[0])
    idx = jnp.asarray(_mask_indices(mask, params))
    dim = int(idx.shape[0])

    def embed(x):
        if jnp.shape(x) != (dim,):
            raise ValueError(f"x: expected a flat block vector of shape ({dim},), got {jnp.shape(x)}.")
        return jnp.zeros((n,), dtype).at[idx].set(x.astype(dtype))

    matvec = lambda x: full_mv(embed(x))[idx]
    return HessianOperator(matvec, dim, dtype, lambda x: unravel(embed(x)), lambda t: ravel_pytree(t)[0][idx])


@cached(static=("mask",))
def dense_hessian(
    loss_fn: Callable, params: PyTree, mask: PyTree | None = None, max_dim: int = 8192
) -> Float[Array, "d d"]:
    """The dense Hessian (or one block) of a small model, in ``ravel_pytree`` coordinates.

    Built column by column with vmapped HVPs (forward-over-reverse), so it equals
    ``jax.hessian`` of the raveled loss up to rounding, and is symmetrised ``(H + Hᵀ)/2``.

    Args:
      loss_fn: ``loss_fn(params) -> scalar``.
      params: the point θ.
      mask: optional block selection (see :func:`hessian_operator`).
      max_dim: refuse to materialise beyond this many coordinates.

    Returns:
      ``[d, d]`` symmetric matrix in the parameters' dtype.

    Raises:
      ValueError: if the (selected) dimension exceeds ``max_dim``.
    """
    check_int("max_dim", max_dim)
    op = hessian_operator(loss_fn, params, mask)
    if op.dim > max_dim:
        raise ValueError(
            f"params, max_dim: dense Hessian of dimension {op.dim} exceeds max_dim={max_dim}; use "
            "hessian_operator with lanczos/slq instead, or raise max_dim."
        )
    h = jax.vmap(op.matvec)(jnp.eye(op.dim, dtype=op.dtype))
    return 0.5 * (h + h.T)
