"""Activations with numerically stable derivatives, as first-class callables.

``1 - tanh(a)**2`` is exactly 0 in float32 once |a| ≳ 9 (≳ 19 in float64), which makes
saturated Jacobians exactly singular and log-factors −∞. Every derivative here is written
in a form that stays positive until the true value underflows, e.g.
tanh'(a) = sech²(a) = 4e^{−2|a|}/(1 + e^{−2|a|})². The derivative lives on the activation
itself: each built-in ``fn`` is a ``jax.custom_jvp`` whose tangent rule is ``deriv``, so
autodiff (``jax.grad``, ``vg.input_jacobian``) and the explicit chain (``vg.mlp_jacobian``)
use the same stable φ'.

Any elementwise JAX callable is an activation too: :func:`activation` (and
:func:`as_activation`, the one resolver every module uses) wraps it, with φ' by
forward-mode autodiff unless a derivative is given (:meth:`Activation.wrap`).
"""

from __future__ import annotations

import dataclasses
import math
import weakref
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import erf as _erf

from ._checks import ArgumentTypeError, short_repr, check_scalar, concrete


@dataclasses.dataclass(frozen=True)
class Activation:
    """An elementwise nonlinearity φ with its derivative φ'.

    Hashable, so it can be a static argument of ``jax.jit``: built-ins compare by name and
    parameters, wrapped callables by the identity of the callable.

    Attributes:
      name: e.g. ``"tanh"``, ``"leaky_relu(0.01)"`` or ``"callable(f)"`` for a wrapped function.
      fn: φ, elementwise; for built-ins a ``jax.custom_jvp`` whose JVP is ``deriv``.
      deriv: φ', elementwise, numerically stable.
      deriv_bound: sup |φ'| (used by bounds such as S2 and S6); ``inf`` when unknown.
      slope: for the piecewise-linear family φ(h) = h (h > 0), slope·h (h < 0) — linear (1),
        ReLU (0), leaky ReLU (α), PReLU (a) — the negative-side slope, which gives the mean
        field in closed form (``vg.theory.mean_field``); None otherwise.
      ident: ``id`` of a wrapped callable (0 for built-ins), so distinct callables differ.
    """

    name: str
    fn: Callable[[jax.Array], jax.Array] = dataclasses.field(compare=False)
    deriv: Callable[[jax.Array], jax.Array] = dataclasses.field(compare=False)
    deriv_bound: float
    slope: float | None = None
    ident: int = dataclasses.field(default=0, repr=False)

    def __call__(self, a):
        return self.fn(a)

    @classmethod
    def wrap(
        cls, fn: Callable, *, deriv: Callable | None = None, deriv_bound: float = math.inf, name: str | None = None
    ) -> "Activation":
        """Wraps an elementwise callable ``fn`` (e.g. ``lambda x: x * jax.nn.sigmoid(1.702 * x)``).

        Args:
          fn: elementwise φ: an array in, the same shape out.
          deriv: φ' (elementwise). Default: forward-mode autodiff of ``fn``. When given, it
            also becomes ``fn``'s JVP rule (``jax.custom_jvp``), so autodiff uses it.
          deriv_bound: sup |φ'| if known (default ``inf``: bounds that need it are vacuous).
          name: label; default ``"callable(<fn.__name__>)"``.

        Raises:
          ValueError: ``fn`` (or ``deriv``) does not map an array to one of the same shape, or
            mixes elements (its Jacobian at a test point is not diagonal).
          TypeError: ``fn`` or ``deriv`` not callable.
        """
        return _wrap(fn, deriv, deriv_bound, name, "fn")


def _with_derivative(f: Callable, d: Callable) -> Callable:
    """``f`` as a ``jax.custom_jvp`` whose tangent is ``d(a) * da`` (the stable φ')."""
    g = jax.custom_jvp(f)

    def jvp(primals, tangents):
        (a,), (da,) = primals, tangents
        return f(a), d(a) * da

    g.defjvp(jvp)
    return g


def _autodiff_deriv(f: Callable) -> Callable:
    """φ' of an elementwise ``f`` by one forward-mode pass (any shape)."""

    def d(a):
        a = jnp.asarray(a, jnp.result_type(a, float))
        return jax.jvp(f, (a,), (jnp.ones_like(a),))[1]

    return d


def _check_elementwise(argname: str, f: Callable, what: str) -> None:
    x = jnp.linspace(-1.7, 1.3, 6, dtype=jnp.float32).reshape(2, 3)
    try:
        out = jax.eval_shape(f, x)
    except Exception as e:  # noqa: BLE001 — any failure to trace is the callable's
        raise ValueError(
            f"{argname}: expected an elementwise {what} (an array in, the same shape out); "
            f"calling it on a float32 array of shape (2, 3) failed: {e}"
        ) from None
    if getattr(out, "shape", None) != (2, 3) or not jnp.issubdtype(out.dtype, jnp.floating):
        got = f"{out.shape} {out.dtype}" if hasattr(out, "shape") else short_repr(out)
        raise ValueError(
            f"{argname}: expected an elementwise {what} (an array in, the same shape out); "
            f"for a float32 input of shape (2, 3) it returned {got}."
        )
    v = np.linspace(-1.7, 1.3, 4).astype(np.float32)
    try:
        with jax.ensure_compile_time_eval():
            jac = jax.jacfwd(f)(v)
        if concrete(jac) is None:  # inside a caller's vmap: run it compiled, outside the trace
            jac = jax.jit(jax.jacfwd(f)).lower(v).compile()(v)
        jac = np.asarray(jac)
    except Exception:  # noqa: BLE001 — not differentiable or closes over tracers: shape check only
        return
    off = jac - np.diag(np.diag(jac)) if jac.shape == (4, 4) else None
    if off is not None and np.any(np.abs(off) > 0):
        raise ValueError(
            f"{argname}: expected an elementwise {what}, but output i depends on other inputs "
            f"(its Jacobian at a test point has off-diagonal entries, e.g. softmax)."
        )


_WRAPPED: "weakref.WeakKeyDictionary[Callable, Activation]" = weakref.WeakKeyDictionary()


def _wrap(fn: Callable, deriv: Callable | None, deriv_bound, name, argname) -> Activation:
    if not callable(fn):
        raise ArgumentTypeError(f"{argname}: expected a callable, got {short_repr(fn)}.")
    if deriv is not None and not callable(deriv):
        raise ArgumentTypeError(f"deriv: expected a callable φ', got {short_repr(deriv)}.")
    if deriv_bound != math.inf:  # inf: unknown (the default)
        check_scalar("deriv_bound", deriv_bound, nonneg=True)
    _check_elementwise(argname, fn, "activation")
    if deriv is None:
        f, d = fn, _autodiff_deriv(fn)
    else:
        _check_elementwise("deriv", deriv, "derivative")
        f, d = _with_derivative(fn, deriv), deriv
    label = name if name is not None else f"callable({getattr(fn, '__name__', type(fn).__name__)})"
    return Activation(label, f, d, float(deriv_bound), None, id(fn))


def as_activation(act, argname: str = "act") -> Activation:
    """The one resolver: a name, an :class:`Activation` or an elementwise callable → Activation.

    Every function that takes an activation calls this, so all of them accept the same
    things. A callable is wrapped once and cached by identity (the same callable gives the
    same :class:`Activation`, so a ``jit`` keyed on it does not retrace).

    Raises:
      ValueError: unknown name, or a callable that is not elementwise.
      TypeError: anything else (naming ``argname``).
    """
    if isinstance(act, Activation):
        return act
    if isinstance(act, str):
        if act not in ACTIVATIONS:
            raise ValueError(
                f"{argname}: unknown activation {act!r}; expected one of {list(ACTIVATIONS)}, "
                f"an Activation or an elementwise callable."
            )
        return _make(act)
    if callable(act):
        try:
            return _WRAPPED[act]
        except (KeyError, TypeError):
            pass
        a = _wrap(act, None, math.inf, None, argname)
        try:
            _WRAPPED[act] = a
        except TypeError:  # not weak-referenceable: no cache
            pass
        return a
    raise ArgumentTypeError(
        f"{argname}: expected an activation name (str), an Activation or an elementwise callable, got {short_repr(act)}."
    )


def _sech2(a):
    e = jnp.exp(-2.0 * jnp.abs(a))
    return 4.0 * e / (1.0 + e) ** 2


def _sigmoid_deriv(a):
    e = jnp.exp(-jnp.abs(a))
    return e / (1.0 + e) ** 2


def _gelu_deriv(a):
    cdf = 0.5 * (1.0 + _erf(a / math.sqrt(2.0)))
    return cdf + a * jnp.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi)


def _silu_deriv(a):
    s = jax.nn.sigmoid(a)
    return s + a * _sigmoid_deriv(a)


def _step(a, neg):
    return jnp.where(a > 0, jnp.ones_like(a), jnp.full_like(a, neg))


def _builtin(name: str, fn, deriv, bound, slope=None) -> Activation:
    return Activation(name, _with_derivative(fn, deriv), deriv, bound, slope)


def _make(name: str, **params) -> Activation:
    p = dict(params)
    if name == "linear":
        return _builtin("linear", lambda a: a, jnp.ones_like, 1.0, 1.0)
    if name == "sigmoid":
        return _builtin("sigmoid", jax.nn.sigmoid, _sigmoid_deriv, 0.25)
    if name == "tanh":
        return _builtin("tanh", jnp.tanh, _sech2, 1.0)
    if name == "relu":
        return _builtin("relu", jax.nn.relu, lambda a: _step(a, 0.0), 1.0, 0.0)
    if name in ("leaky_relu", "prelu"):
        key = "alpha" if name == "leaky_relu" else "a"
        s = p.pop(key, 0.01 if name == "leaky_relu" else 0.25)
        check_scalar(key, s, nonneg=name == "leaky_relu")  # PReLU's slope may be negative
        s = float(s)
        return _builtin(
            f"{name}({s:g})", lambda a: jnp.where(a > 0, a, s * a), lambda a: _step(a, s), max(1.0, abs(s)), s
        )
    if name == "elu":
        al = p.pop("alpha", 1.0)
        check_scalar("alpha", al, nonneg=True)
        al = float(al)
        return _builtin(
            f"elu({al:g})",
            lambda a: jnp.where(a > 0, a, al * jnp.expm1(jnp.minimum(a, 0))),
            lambda a: jnp.where(a > 0, 1.0, al * jnp.exp(jnp.minimum(a, 0))).astype(a.dtype),
            max(1.0, al),
        )
    if name == "gelu":
        return _builtin("gelu", lambda a: jax.nn.gelu(a, approximate=False), _gelu_deriv, 1.12905)
    if name == "silu":
        return _builtin("silu", jax.nn.silu, _silu_deriv, 1.09984)
    if name == "erf":
        return _builtin("erf", _erf, lambda a: (2.0 / math.sqrt(math.pi)) * jnp.exp(-a * a), 2.0 / math.sqrt(math.pi))
    if name == "hard_tanh":
        return _builtin("hard_tanh", lambda a: jnp.clip(a, -1.0, 1.0), lambda a: (jnp.abs(a) < 1).astype(a.dtype), 1.0)
    raise ValueError(f"name: unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}.")


ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "gelu", "silu", "erf", "hard_tanh")


def activation(name, **params) -> Activation:
    """An activation by name, or any elementwise callable made into one.

    Args:
      name: one of ``linear, sigmoid, tanh, relu, leaky_relu, prelu, elu, gelu, silu, erf,
        hard_tanh``; an :class:`Activation` (returned unchanged); or an elementwise callable
        (e.g. ``lambda x: x * jax.nn.sigmoid(1.702 * x)``), wrapped with φ' by autodiff
        (:meth:`Activation.wrap` takes an explicit, stable derivative).
      **params: ``alpha`` for leaky_relu (default 0.01) and elu (1.0); ``a`` for prelu (0.25).

    Returns:
      An :class:`Activation`. Built-ins carry their stable φ' as ``fn``'s JVP rule, so
      ``jax.grad`` through ``fn`` agrees with ``deriv`` in saturation.

    Raises:
      ValueError: unknown name, an unused parameter, a NaN/inf parameter, a negative
        ``alpha`` (leaky_relu, elu), or a callable that is not elementwise.
      TypeError: ``name`` or a parameter of the wrong type.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> float(activation("tanh").deriv(jnp.float32(12.0))) > 0   # not exactly 0
      True
      >>> float(jax.grad(activation("tanh").fn)(jnp.float32(12.0))) > 0   # autodiff too
      True
      >>> gelu_ish = activation(lambda x: x * jax.nn.sigmoid(1.702 * x))
      >>> round(float(gelu_ish.deriv(jnp.float32(0.0))), 3)
      0.5
    """
    if isinstance(name, Activation) or (callable(name) and not isinstance(name, str)):
        act = as_activation(name, "name")  # a callable is checked (elementwise) first
        if params:
            raise ValueError(
                f"params: {sorted(params)} given with an Activation object or a callable "
                f"(use Activation.wrap(fn, deriv=...) for a callable's options)."
            )
        return act
    if not isinstance(name, str):
        raise ArgumentTypeError(
            f"name: expected an activation name (str), an Activation or an elementwise callable, got {short_repr(name)}."
        )
    act = _make(name, **params)
    allowed = {"leaky_relu": {"alpha"}, "elu": {"alpha"}, "prelu": {"a"}}.get(name, set())
    extra = set(params) - allowed
    if extra:
        raise ValueError(f"params: {sorted(extra)} not understood by activation {name!r}.")
    return act
