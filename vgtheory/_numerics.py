"""Numerics every module shares: one definition each of the matmul precision of theory
checks and of the float64-when-available dtypes (issue 16).

JAX's default float32 matmul on recent NVIDIA GPUs is TF32 (relative error ~3e-4), so every
library matmul states its precision; :data:`HIGHEST` is the one constant they use. Float64
needs ``jax_enable_x64``: :func:`wide_dtype` and :func:`acc_dtype` widen to it when it is on
and keep the given (or float32) dtype otherwise, never silently truncating a float64 request.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

HIGHEST = jax.lax.Precision.HIGHEST
"""The matmul precision of every theory check: true float32 on GPUs (never TF32)."""


def x64_enabled() -> bool:
    """Whether ``jax_enable_x64`` is on (read at call time, so ``enable_x64`` contexts count)."""
    return bool(jax.config.read("jax_enable_x64"))


def wide_dtype(dtype):
    """float64 when x64 is enabled, else ``dtype`` (for references and accumulations)."""
    return jnp.float64 if x64_enabled() else dtype


def acc_dtype():
    """float64 when x64 is enabled, else float32 (the accumulation dtype of log-domain sums)."""
    return float_dtype()


def float_dtype(*xs, weak_as_default: bool = False):
    """The common floating dtype of ``xs``; with no argument, the default float.

    A floating dtype stays (float32 in → float32 out); integers are promoted to the default
    float (float64 when x64 is enabled, else float32). By JAX's promotion rules a Python
    scalar or weakly typed array does not pin the result: ``float_dtype(f32, 2.0)`` is
    float32.

    With ``weak_as_default=True`` only a strongly typed floating array keeps its dtype; every
    other value (Python scalar, integer, list, weakly typed array) counts as the default float.
    The mean-field closed forms use this, so ``q_star(..., sigma_w2=2.0)`` is computed in
    float64 under x64 even when ``q0`` is a float32 array.
    """
    if weak_as_default:
        xs = tuple(x.dtype if _strong_float(x) else jnp.result_type(float) for x in xs)
    if not xs:
        return jax.dtypes.canonicalize_dtype(jnp.float64)
    dt = jnp.result_type(*xs)
    return dt if jnp.issubdtype(dt, jnp.floating) else jnp.result_type(dt, float)


def _strong_float(x) -> bool:
    return hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating) and not getattr(x, "weak_type", False)
