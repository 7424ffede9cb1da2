"""Argument checks shared by the public functions: name the argument, the value, what was expected.

Every message reads ``"{name}: expected ..., got ..."``. Checks run on concrete (Python or
array) values at trace time; traced values inside a caller's ``jit`` or sweep are left alone
(shapes and dtypes are still checked). A wrong kind of argument raises
:class:`ArgumentTypeError`, a wrong value ``ValueError``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Literal, Union, overload

import jax
import jax.numpy as jnp
import numpy as np


class ArgumentTypeError(TypeError, ValueError):
    """A wrong kind of argument: a float where a count belongs, an integer array where a real
    vector belongs, a non-callable where a function belongs.

    A ``TypeError`` that is also a ``ValueError`` (as NumPy's ``AxisError`` is both a
    ``ValueError`` and an ``IndexError``): the modules raised either for these cases before
    the checks were shared here, and ``except`` clauses written for either keep working.
    """


def concrete(x) -> np.ndarray | None:
    """NumPy value of ``x``, or None when it is traced (inside the caller's ``jit`` or ``vmap``)."""
    try:
        return np.asarray(x)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
        return None


def short_repr(value) -> str:
    """One-line repr of ``value``, at most 80 characters, for messages."""
    r = " ".join(repr(value).split())
    return r if len(r) <= 80 else r[:77] + "..."


def _dtype(name: str, x):
    try:
        return jnp.result_type(x)
    except TypeError:
        raise ArgumentTypeError(f"{name}: expected a numeric array, got {short_repr(x)}.") from None


def check_scalar(name: str, value, *, nonneg: bool = False, positive: bool = False) -> None:
    """Rejects NaN/±inf (and negative or non-positive values when asked) of a concrete scalar."""
    try:
        v = float(value)
    except jax.errors.ConcretizationTypeError:
        return  # traced: a sweep inside the caller's jit
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{name}: expected a real number, got {short_repr(value)}.") from None
    if not math.isfinite(v) or (nonneg and v < 0) or (positive and v <= 0):
        want = "a positive" if positive else "a non-negative" if nonneg else "a"
        raise ValueError(f"{name}: expected {want} finite number, got {v}.")


def check_int(name: str, value, lo: int = 1, hi: int | None = None, what: str = "") -> int:
    """``value`` must be a Python/NumPy int (not a bool) in ``[lo, hi]``; returns it as an int.

    For static counts (sizes, steps, iterations); ``what`` says where a bound comes from.
    """
    want = f"an int ≥ {lo}" if hi is None else f"an int in [{lo}, {hi}]"
    want += f" ({what})" if what else ""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ArgumentTypeError(f"{name}: expected {want}, got {short_repr(value)}.")
    if value < lo or (hi is not None and value > hi):
        raise ValueError(f"{name}: expected {want}, got {value}.")
    return int(value)


def check_callable(name: str, f, what: str = "") -> None:
    """``f`` must be callable; ``what`` shows its expected signature, e.g. ``"f(y) -> dy/dt"``."""
    if not callable(f):
        raise ArgumentTypeError(f"{name}: expected a callable {what}".rstrip() + f", got {short_repr(f)}.")


def check_bool(name: str, value) -> bool:
    """``value`` must be a Python/NumPy bool (a static switch, e.g. ``full_output``); returns it."""
    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(f"{name}: expected a bool, got {short_repr(value)}.")
    return bool(value)


def check_real(name: str, x) -> None:
    """``x`` must hold real floating-point numbers (complex and integer arrays are refused)."""
    dt = _dtype(name, x)
    if not jnp.issubdtype(dt, jnp.floating):
        raise ArgumentTypeError(f"{name}: expected a real floating-point array, got dtype {dt}.")


def check_real_or_int(name: str, x) -> None:
    """``x`` must hold real numbers, floating or integer (complex and boolean arrays are refused)."""
    dt = _dtype(name, x)
    if not (jnp.issubdtype(dt, jnp.floating) or jnp.issubdtype(dt, jnp.integer)):
        raise ArgumentTypeError(f"{name}: expected a real (floating or integer) array, got dtype {dt}.")


def check_float_dtype(name: str, dtype) -> np.dtype:
    """``dtype`` must name a floating dtype; returns it as a NumPy dtype."""
    try:
        dt = jnp.dtype(dtype)
    except TypeError:
        raise ArgumentTypeError(f"{name}: expected a floating dtype, got {short_repr(dtype)}.") from None
    if not jnp.issubdtype(dt, jnp.floating):
        raise ArgumentTypeError(f"{name}: expected a floating dtype, got {dt}.")
    return dt


# The names jax.default_matmul_precision and jnp.matmul both take; jnp.matmul also takes
# "fastest" and "bfloat16_3x" (aliases of DEFAULT and HIGH), the scoped default does not.
PRECISION_NAMES = ("default", "high", "highest", "bfloat16", "tensorfloat32", "float32")
_MATMUL_ONLY_NAMES = ("fastest", "bfloat16_3x")


# What a function that sets jax.default_matmul_precision while tracing accepts (check_precision(..., scoped=True)).
ScopedPrecision = Union[str, None, jax.lax.Precision, jax.lax.DotAlgorithmPreset]
# What a function that passes precision= to jnp.matmul accepts (check_precision(...)): also a
# (lhs, rhs) pair and a jax.lax.DotAlgorithm.
MatmulPrecision = Union[str, None, jax.lax.Precision, jax.lax.DotAlgorithmPreset, jax.lax.DotAlgorithm, tuple]


@overload
def check_precision(precision, *, scoped: Literal[True], name: str = "precision") -> str | None: ...
@overload
def check_precision(precision, *, scoped: Literal[False] = False, name: str = "precision") -> Any: ...
def check_precision(precision, *, scoped: bool = False, name: str = "precision"):
    """A matmul precision as ``jnp.matmul`` takes it; returns it (``scoped``: as a name).

    Accepted: None, a ``jax.lax.Precision``, one of :data:`PRECISION_NAMES` (or
    ``"fastest"``, ``"bfloat16_3x"``), a ``(lhs, rhs)`` pair of Precisions or of names, a
    ``jax.lax.DotAlgorithmPreset`` or the name of one, a ``jax.lax.DotAlgorithm``. A wrong
    kind (a number) raises :class:`ArgumentTypeError`, an unknown name ``ValueError``.

    ``scoped``: the function sets the value as ``jax.default_matmul_precision`` while it
    traces a user's function, which takes one value by name: None, one of
    :data:`PRECISION_NAMES` or a preset's name. A Precision or a preset is returned as its
    name; a pair, a ``DotAlgorithm``, ``"fastest"``, ``"bfloat16_3x"`` and the ``DEFAULT``
    preset raise ``ValueError``.
    """
    P, Preset = jax.lax.Precision, jax.lax.DotAlgorithmPreset
    names = PRECISION_NAMES + _MATMUL_ONLY_NAMES
    presets = tuple(Preset.__members__)
    is_name = lambda p: isinstance(p, str) and p in names
    pair = (
        isinstance(precision, (tuple, list))
        and len(precision) == 2
        and (all(isinstance(p, P) for p in precision) or all(is_name(p) for p in precision))
    )
    ok = (
        precision is None
        or isinstance(precision, (P, Preset, jax.lax.DotAlgorithm))
        or is_name(precision)
        or (isinstance(precision, str) and precision in presets)
        or pair
    )
    if not ok:
        want = (
            f"None, a jax.lax.Precision, one of {names}, a (lhs, rhs) pair of those, a "
            f"jax.lax.DotAlgorithmPreset (or its name, e.g. 'F32_F32_F32') or a jax.lax.DotAlgorithm"
        )
        err = ValueError if isinstance(precision, (str, tuple, list)) else ArgumentTypeError
        raise err(f"{name}: expected {want}, got {short_repr(precision)}.")
    if not scoped:
        return precision
    scoped_value = (
        precision.name.lower()
        if isinstance(precision, P)
        else precision.name
        if isinstance(precision, Preset)
        else precision
    )
    if (
        scoped_value is None
        or scoped_value in PRECISION_NAMES
        or (isinstance(scoped_value, str) and scoped_value in presets and scoped_value != "DEFAULT")
    ):
        return scoped_value
    raise ValueError(
        f"{name}: this function sets it as jax.default_matmul_precision while tracing, "
        f"which takes None, one of {PRECISION_NAMES}, a jax.lax.Precision or a "
        f"jax.lax.DotAlgorithmPreset other than DEFAULT (not a pair, a DotAlgorithm, "
        f"'fastest' or 'bfloat16_3x'), got {short_repr(precision)}."
    )


def _array_shape(name: str, x, what: str) -> tuple:
    """``jnp.shape`` of an array, scalar or nested list; a dict, a tuple of arrays that is
    not one array, or any other object raises naming ``name`` (``jnp.shape`` of a pytree is
    deprecated in JAX and will be an error)."""
    if isinstance(x, (list, tuple)):
        try:
            return np.shape(np.asarray(x))
        except Exception:  # ragged, tracers inside, objects
            raise ArgumentTypeError(f"{name}: expected {what}, got {short_repr(x)}.") from None
    if isinstance(x, (int, float, complex, np.generic)) or (hasattr(x, "shape") and hasattr(x, "dtype")):
        return jnp.shape(x)
    raise ArgumentTypeError(f"{name}: expected {what}, got {short_repr(x)}.")


def check_vector(name: str, x, size: int | None = None) -> None:
    """``x`` must be a real floating-point vector (of ``size`` entries when given)."""
    shape = _array_shape(name, x, "a real floating-point vector")
    dt = _dtype(name, x)
    if not jnp.issubdtype(dt, jnp.floating):
        raise ArgumentTypeError(f"{name}: expected a real floating-point vector, got dtype {dt}.")
    if len(shape) != 1 or (size is not None and shape[0] != size):
        want = f"shape [{size}]" if size is not None else "a vector [n]"
        raise ValueError(f"{name}: expected {want}, got shape {shape}.")


def check_width(name: str, x, n: int, what: str) -> None:
    """The last axis of ``x`` must have ``n`` entries (``what`` names where n comes from)."""
    if jnp.ndim(x) < 1 or jnp.shape(x)[-1] != n:
        raise ValueError(f"{name}: expected last axis {n} ({what}), got shape {jnp.shape(x)}.")


def _sq_norm(x, axis, normalised):
    x = jnp.asarray(x)
    if not normalised or not jnp.issubdtype(x.dtype, jnp.inexact):
        return jnp.sum(x != 0, axis=axis)  # exact: some entry is nonzero
    return jnp.sum(jnp.square(x), axis=axis)  # in x's dtype: an underflowing square counts as 0


def check_nonzero(name: str, x, axis=None, what: str = "vector", *, normalised: bool = True) -> None:
    """A concrete ``x`` (array or pytree) must be finite and nonzero: over all entries, or
    over ``axis`` for every slice (an array).

    ``normalised``: ``x`` gets divided by its norm, so its squared norm must not be 0 in its
    own dtype (a float32 vector of entries below ~1e-19 counts as zero); otherwise one
    nonzero entry suffices. One device→host boolean; traced values inside a caller's
    ``jit``/``vmap`` are left alone (their NaN then comes from 0/0, as the caller documents).
    """
    leaves = jax.tree_util.tree_leaves(x)
    if not leaves:
        return
    try:
        bad_value = not all(bool(jnp.all(jnp.isfinite(a))) for a in leaves)
        zero = bool(jnp.any(sum(_sq_norm(a, axis, normalised) for a in leaves) == 0))
    except jax.errors.ConcretizationTypeError:
        return  # traced: a sweep inside the caller's jit
    if bad_value:
        raise ValueError(f"{name}: expected a finite {what}, got NaN/inf entries.")
    if zero and not normalised:
        raise ValueError(f"{name}: expected a nonzero {what}, got all zeros.")
    if zero:
        dts = ", ".join(sorted({str(jnp.result_type(a)) for a in leaves}))
        raise ValueError(
            f"{name}: expected a nonzero {what} (it is normalised), got one whose squared norm is 0 in {dts}."
        )


def check_output(
    name: str, f: Callable, args: tuple, shape: tuple, dtype=None, *, call: str, blame: str | None = None
) -> Any:
    """``f(*args)`` must trace and return one array of ``shape`` (and ``dtype`` when given).

    Abstract evaluation (``jax.eval_shape``): nothing runs. ``args`` are arrays, pytrees or
    ``jax.ShapeDtypeStruct``; ``call`` describes the call in messages (e.g.
    ``"matvec(v) for v of shape (6,) float32"``). A call that fails is a ValueError naming
    ``blame`` (default ``name``: the argument whose shape was used, when that is the likelier
    culprit); a wrong output is a ValueError naming ``name``. Returns the output's
    ``ShapeDtypeStruct``.
    """
    try:
        out = jax.eval_shape(f, *args)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{blame or name}: {call} failed: {e}") from None
    if not hasattr(out, "shape") or out.shape != tuple(shape) or (dtype is not None and out.dtype != dtype):
        want = f"shape {tuple(shape)}" + (f" and dtype {jnp.dtype(dtype)}" if dtype is not None else "")
        got = f"{out.shape} {out.dtype}" if hasattr(out, "shape") else short_repr(out)
        raise ValueError(f"{name}: expected {call} to return {want}, got {got}.")
    return out


def check_matvec(name: str, matvec, d: int, dtype, source: str) -> None:
    """``matvec`` callable, mapping a real ``[d]`` vector (``d`` from ``source``) to a real ``[d]``."""
    check_callable(name, matvec, "linear map [d] -> [d]")
    call = f"{name}(v) for v of shape ({d},) {jnp.dtype(dtype)} (d from {source})"
    out = check_output(name, matvec, (jax.ShapeDtypeStruct((d,), dtype),), (d,), call=call)
    if jnp.issubdtype(out.dtype, jnp.complexfloating):
        raise ArgumentTypeError(f"{name}: expected a real symmetric map, got a {out.dtype} output.")


def check_recurrence(step, params, h0, inputs, steps) -> int:
    """A recurrence ``h_{t+1} = step(params, h_t, x_t)`` over ``steps`` (≥ 1) steps from a real
    ``[N]`` state ``h0``, ``inputs`` ``[steps, ...]`` or None: ``step`` must keep the state's
    shape and dtype. Returns N."""
    check_int("steps", steps)
    check_callable("step", step, "step(params, h, x)")
    check_vector("h0", h0)
    x0 = None
    if inputs is not None:
        if jnp.ndim(inputs) < 1 or jnp.shape(inputs)[0] != steps:
            raise ValueError(
                f"inputs: expected a leading time axis of length steps={steps}, got shape {jnp.shape(inputs)}."
            )
        x0 = jax.ShapeDtypeStruct(jnp.shape(inputs)[1:], jnp.result_type(inputs))
    h = jax.ShapeDtypeStruct(jnp.shape(h0), jnp.result_type(h0))
    call = f"step(params, h, x) for a state h of shape {h.shape} {h.dtype} (h0's)"
    check_output("step", step, (params, h, x0), h.shape, h.dtype, call=call, blame="h0")
    return h.shape[0]
