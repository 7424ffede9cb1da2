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
    return jax.dtypes.canonicalize_dtype(jnp.float64)
