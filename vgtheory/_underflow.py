"""Underflow of a repeatedly shrunk number: when does ×0.1 become exactly 0?

A gradient multiplied by 0.1 per layer is mathematically never zero, but in floating
point it reaches exactly 0 after a number of steps fixed by the dtype's exponent range and
by whether the arithmetic keeps *subnormal* numbers (IEEE 754 gradual underflow) or
flushes them to zero (FTZ/DAZ, a common CPU/accelerator mode). Repeated multiplication by
the dtype's rounding ``c = fl(0.1)`` of x₀ = 1 reaches 0 at

    k = ⌈ln t / ln c⌉,   t = s_min / 2   (subnormals kept: the last subnormal rounds to 0)
                         t = n_min       (flush to zero: any subnormal result becomes 0)

with s_min the smallest subnormal and n_min the smallest normal of the dtype
(``jnp.finfo``). float32: 46 with subnormals, 38 with FTZ; the seed's "about 45" is the
first. The count here is *measured* under ``jax.jit`` (one ``while_loop``), op by op
("eager"), and on the host with NumPy (IEEE reference), per backend.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._numerics import x64_enabled

DTYPES = {"float64": jnp.float64, "float32": jnp.float32, "float16": jnp.float16, "bfloat16": jnp.bfloat16}
MODES = ("jit", "eager", "numpy")
_MAX_STEPS = 5000


class UnderflowStep(NamedTuple):
    """Measured and predicted underflow steps of x ← x·fl(0.1) from x = 1.

    Attributes:
      dtype: dtype name.
      backend: the JAX platform measured (``"cpu"``, ``"gpu"``, ...) or ``"numpy"``.
      mode: ``"jit"``, ``"eager"`` or ``"numpy"`` (host IEEE reference).
      steps: measured number of multiplications until the value is exactly 0.
      subnormals_kept: whether one multiply of n_min by 0.5 is non-zero in this mode.
      ieee_subnormal: predicted step with gradual underflow (subnormals kept).
      ieee_ftz: predicted step with flush-to-zero.
    """

    dtype: str
    backend: str
    mode: str
    steps: int
    subnormals_kept: bool
    ieee_subnormal: int
    ieee_ftz: int


def _dtype(dtype):
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise ValueError(f"dtype: unknown {dtype!r}; expected one of {sorted(DTYPES)}.")
        return dtype, DTYPES[dtype]
    for name, dt in DTYPES.items():
        if jnp.dtype(dtype) == jnp.dtype(dt):
            return name, dt
    raise ValueError(f"dtype: unsupported {dtype!r}; expected one of {sorted(DTYPES)}.")


def predicted_underflow_step(dtype, factor: float = 0.1, subnormals: bool = True) -> int:
    """Closed-form step k = ⌈ln t / ln c⌉ at which x ← x·c, x₀ = 1, becomes exactly 0.

    Args:
      dtype: ``"float64" | "float32" | "float16" | "bfloat16"`` (or the jnp dtype).
      factor: the multiplier, rounded to the dtype (c = fl(factor)), 0 < factor < 1.
      subnormals: ``True`` for IEEE gradual underflow (t = s_min/2), ``False`` for
        flush-to-zero (t = n_min).

    Returns:
      The step count (int).

    Raises:
      ValueError: unknown dtype or factor outside (0, 1).

    Example:
      >>> predicted_underflow_step("float32"), predicted_underflow_step("float32", subnormals=False)
      (46, 38)
    """
    name, dt = _dtype(dtype)
    if not 0.0 < float(factor) < 1.0:
        raise ValueError(f"factor: expected a multiplier in (0, 1), got {factor!r}.")
    fi = jnp.finfo(dt)
    c = float(np.asarray(factor, dtype=np.dtype(dt)).astype(np.float64))
    log_t = (
        math.log(float(fi.smallest_subnormal)) - math.log(2.0) if subnormals else math.log(float(fi.smallest_normal))
    )
    return int(math.ceil(log_t / math.log(c) - 1e-12))


def _probe_subnormals(dt, mode: str, device) -> bool:
    tiny = jnp.finfo(dt).smallest_normal
    if mode == "numpy":
        return bool(np.asarray(tiny, np.dtype(dt)) * np.asarray(0.5, np.dtype(dt)) != 0)
    x = jax.device_put(jnp.asarray(tiny, dt), device)
    h = jax.device_put(jnp.asarray(0.5, dt), device)
    y = jax.jit(lambda a, b: a * b)(x, h) if mode == "jit" else x * h
    return bool(y != 0)


def _count_jit(dt, factor, device) -> int:
    def run(x0, c):
        def cond(s):
            return (s[0] != 0) & (s[1] < _MAX_STEPS)

        def body(s):
            return s[0] * c, s[1] + 1

        return lax.while_loop(cond, body, (x0, jnp.int32(0)))[1]

    x0 = jax.device_put(jnp.asarray(1.0, dt), device)
    c = jax.device_put(jnp.asarray(factor, dt), device)
    return int(jax.jit(run)(x0, c))


def _count_eager(dt, factor, device) -> int:
    x = jax.device_put(jnp.asarray(1.0, dt), device)
    c = jax.device_put(jnp.asarray(factor, dt), device)
    k = 0
    while bool(x != 0) and k < _MAX_STEPS:
        x = x * c
        k += 1
    return k


def _count_numpy(dt, factor) -> int:
    npdt = np.dtype(dt)
    x, c, k = np.asarray(1.0, npdt), np.asarray(factor, npdt), 0
    while x != 0 and k < _MAX_STEPS:
        x = np.asarray(x * c, npdt)
        k += 1
    return k


def underflow_step(dtype, mode: str = "jit", backend: str | None = None, factor: float = 0.1) -> UnderflowStep:
    """Measures the step at which repeated multiplication by fl(factor) gives exactly 0.

    Args:
      dtype: ``"float64" | "float32" | "float16" | "bfloat16"``. float64 needs
        ``jax_enable_x64`` (else ValueError: JAX would silently use float32).
      mode: ``"jit"`` (one compiled ``while_loop``), ``"eager"`` (op by op) or
        ``"numpy"`` (host IEEE 754 arithmetic, the reference).
      backend: JAX platform, e.g. ``"cpu"`` or ``"gpu"``; default: the default backend.
      factor: multiplier in (0, 1).

    Returns:
      An :class:`UnderflowStep` with the measured count, the detected subnormal mode and
      both closed-form predictions.

    Raises:
      ValueError: unknown dtype/mode/backend, factor outside (0, 1), or float64 without x64.

    Example:
      >>> underflow_step("float32", mode="numpy").steps
      46
    """
    name, dt = _dtype(dtype)
    if mode not in MODES:
        raise ValueError(f"mode: unknown {mode!r}; expected one of {MODES}.")
    if not 0.0 < float(factor) < 1.0:
        raise ValueError(f"factor: expected a multiplier in (0, 1), got {factor!r}.")
    if name == "float64" and mode != "numpy" and not x64_enabled():
        raise ValueError("dtype: float64 needs jax_enable_x64=True (JAX would use float32).")
    pred = (predicted_underflow_step(name, factor, True), predicted_underflow_step(name, factor, False))
    if mode == "numpy":
        return UnderflowStep(name, "numpy", mode, _count_numpy(dt, factor), _probe_subnormals(dt, mode, None), *pred)
    try:
        device = jax.devices(backend)[0] if backend is not None else jax.devices()[0]
    except RuntimeError as e:
        raise ValueError(f"backend: {backend!r} is not available ({e}).") from None
    steps = (_count_jit if mode == "jit" else _count_eager)(dt, factor, device)
    return UnderflowStep(name, device.platform, mode, steps, _probe_subnormals(dt, mode, device), *pred)
