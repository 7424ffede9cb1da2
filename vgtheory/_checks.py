"""Argument checks shared by the public functions: name the argument, the value, what was expected.

Checks run on concrete (Python or array) values at trace time; traced values inside a
caller's ``jit`` or sweep are left alone (shapes and dtypes are still checked).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def check_scalar(name: str, value, *, nonneg: bool = False, positive: bool = False) -> None:
    """Rejects NaN/±inf (and negative or non-positive values when asked) of a concrete scalar."""
    try:
        v = float(value)
    except jax.errors.ConcretizationTypeError:
        return  # traced: a sweep inside the caller's jit
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a real number, got {value!r:.80}.") from None
    if not math.isfinite(v) or (nonneg and v < 0) or (positive and v <= 0):
        want = "a positive" if positive else "a non-negative" if nonneg else "a"
        raise ValueError(f"{name}: expected {want} finite number, got {v}.")


def check_vector(name: str, x, size: int | None = None) -> None:
    """``x`` must be a real floating-point vector (of ``size`` entries when given)."""
    shape, dt = jnp.shape(x), jnp.result_type(x)
    if not jnp.issubdtype(dt, jnp.floating):
        raise TypeError(f"{name}: expected a real floating-point vector, got dtype {dt}.")
    if len(shape) != 1 or (size is not None and shape[0] != size):
        want = f"[{size}]" if size is not None else "a vector [n]"
        raise ValueError(f"{name}: expected shape {want}, got {shape}.")


def check_real(name: str, x) -> None:
    """``x`` must hold real floating-point numbers (complex and integer arrays are refused)."""
    dt = jnp.result_type(x)
    if not jnp.issubdtype(dt, jnp.floating):
        raise TypeError(f"{name}: expected a real floating-point array, got dtype {dt}.")


def check_width(name: str, x, n: int, what: str) -> None:
    """The last axis of ``x`` must have ``n`` entries (``what`` names where n comes from)."""
    if jnp.ndim(x) < 1 or jnp.shape(x)[-1] != n:
        raise ValueError(f"{name}: expected last axis {n} ({what}), got shape {jnp.shape(x)}.")
