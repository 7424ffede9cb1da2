"""A recurrence h_{t+1} = step(params, h_t, x_t) over a pytree state, seen as a flat vector.

Lyapunov spectra and BPTT norms work on the tangent space of the state, which is the
flat vector of all its leaves (``jax.flatten_util.ravel_pytree``): a Flax LSTM carry
``(c, h)`` of two ``[N]`` arrays is a ``[2N]`` state, a ``[H, W]`` array an ``[HW]`` one.
:func:`flat_recurrence` checks the user's step on the state's structure (abstractly, with
``jax.eval_shape``) and returns the same step on the flat vector. A 1-D array state keeps
the step as it is (nothing to flatten). Inputs may be any pytree whose leaves share the
leading time axis ``steps``; they pass through ``lax.scan`` unchanged.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ._checks import short_repr, check_callable, check_int, check_real, check_recurrence


class FlatRecurrence(NamedTuple):
    """``step(params, h_flat, x) -> h_flat``, the flat initial state, ``unravel`` and N."""

    step: Callable
    h0: jax.Array
    unravel: Callable
    n: int


def _is_vector(h0) -> bool:
    return isinstance(h0, (jax.Array, np.ndarray)) and jnp.ndim(h0) == 1


def _struct(tree):
    return jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)), tree)


def check_state(name: str, h0) -> jax.ShapeDtypeStruct:
    """``h0`` must be a non-empty pytree of real floating arrays of one dtype; returns the
    flat state's ``ShapeDtypeStruct``."""
    leaves = jax.tree_util.tree_leaves(h0)
    if not leaves:
        raise ValueError(f"{name}: expected a state (an array or a pytree of arrays), got {short_repr(h0)}.")
    for leaf in leaves:
        check_real(name, leaf)
    dts = sorted({str(jnp.result_type(a)) for a in leaves})
    if len(dts) > 1:
        raise ValueError(f"{name}: expected every leaf in one floating dtype, got {', '.join(dts)}.")
    n = sum(int(np.prod(jnp.shape(a), dtype=np.int64)) for a in leaves)
    if n < 1:
        raise ValueError(f"{name}: expected at least one state entry, got only empty arrays.")
    return jax.ShapeDtypeStruct((n,), jnp.result_type(leaves[0]))


def check_inputs(inputs, steps: int) -> Any:
    """Every leaf of ``inputs`` has the leading time axis ``steps``; returns the per-step
    structure (``None`` for no inputs)."""
    if inputs is None:
        return None
    leaves = jax.tree_util.tree_leaves(inputs)
    bad = [jnp.shape(a) for a in leaves if jnp.ndim(a) < 1 or jnp.shape(a)[0] != steps]
    if not leaves or bad:
        got = f"shape {bad[0]}" if bad else short_repr(inputs)
        raise ValueError(f"inputs: expected a leading time axis of length steps={steps}, got {got}.")
    return jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a)[1:], jnp.result_type(a)), inputs)


def flat_recurrence(step, params, h0, inputs, steps) -> FlatRecurrence:
    """Checks ``step`` on ``h0``'s structure and returns it on the flat state.

    Raises:
      TypeError: ``step`` not callable; a leaf of ``h0`` not real floating.
      ValueError: bad ``steps``; empty ``h0`` or leaves of different dtypes; ``inputs``
        leaves without the leading axis ``steps``; a ``step`` that fails on ``h0``'s
        structure, or returns a state whose structure, shapes or dtype differ from ``h0``'s.
    """
    if _is_vector(h0) and (inputs is None or isinstance(inputs, (jax.Array, np.ndarray))):
        n = check_recurrence(step, params, h0, inputs, steps)  # the plain case: nothing to flatten
        return FlatRecurrence(step, jnp.asarray(h0), lambda v: v, n)
    check_int("steps", steps)
    check_callable("step", step, "step(params, h, x)")
    flat = check_state("h0", h0)
    x0 = check_inputs(inputs, steps)
    hs = _struct(h0)
    call = f"step(params, h, x) for a state h structured like h0 ({flat.shape[0]} entries, {flat.dtype})"
    try:
        out = jax.eval_shape(step, params, hs, x0)
    except (TypeError, ValueError) as e:
        raise ValueError(f"h0: {call} failed: {e}") from None
    if jax.tree_util.tree_structure(out) != jax.tree_util.tree_structure(hs) or jax.tree_util.tree_leaves(
        _struct(out)
    ) != jax.tree_util.tree_leaves(hs):
        raise ValueError(
            f"step: expected {call} to return a state of h0's structure, shapes and dtype, got {short_repr(out)}."
        )
    h_flat, unravel = ravel_pytree(h0)

    def flat_step(p, h, x):
        return ravel_pytree(step(p, unravel(h), x))[0]

    return FlatRecurrence(flat_step, h_flat, unravel, flat.shape[0])


def flat_vector(name: str, v, like, n: int, dtype) -> jax.Array:
    """A vector argument (a cotangent) given as ``[n]`` or as a pytree shaped like the state
    ``like``, flattened to ``[n]`` in ``dtype``."""
    if _is_vector(v) or _is_vector(like):
        if not _is_vector(v) or jnp.shape(v)[0] != n:
            raise ValueError(
                f"{name}: expected shape [{n}] (or a pytree like h0), got {getattr(v, 'shape', short_repr(v))}."
            )
        check_real(name, v)
        return jnp.asarray(v, dtype)
    if jax.tree_util.tree_structure(v) != jax.tree_util.tree_structure(like) or [
        jnp.shape(a) for a in jax.tree_util.tree_leaves(v)
    ] != [jnp.shape(a) for a in jax.tree_util.tree_leaves(like)]:
        raise ValueError(
            f"{name}: expected a pytree of h0's structure and shapes (or a flat [{n}] vector), got {short_repr(v)}."
        )
    for leaf in jax.tree_util.tree_leaves(v):
        check_real(name, leaf)
    return ravel_pytree(v)[0].astype(dtype)
