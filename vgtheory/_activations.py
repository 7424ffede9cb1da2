"""Activations with numerically stable derivatives.

``1 - tanh(a)**2`` is exactly 0 in float32 once |a| ≳ 9 (≳ 19 in float64), which makes
saturated Jacobians exactly singular and log-factors −∞. Every derivative here is written
in a form that stays positive until the true value underflows, e.g.
tanh'(a) = sech²(a) = 4e^{−2|a|}/(1 + e^{−2|a|})².
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

import jax
import jax.numpy as jnp
from jax.scipy.special import erf as _erf

from ._checks import check_scalar


@dataclasses.dataclass(frozen=True)
class Activation:
    """An elementwise nonlinearity φ with its derivative φ'.

    Hashable, so it can be a static argument of ``jax.jit``.

    Attributes:
      name: e.g. ``"tanh"`` or ``"leaky_relu(0.01)"``.
      fn: φ, elementwise.
      deriv: φ', elementwise, numerically stable.
      deriv_bound: sup |φ'| (used by bounds such as S2 and S6).
    """

    name: str
    fn: Callable[[jax.Array], jax.Array] = dataclasses.field(compare=False)
    deriv: Callable[[jax.Array], jax.Array] = dataclasses.field(compare=False)
    deriv_bound: float

    def __call__(self, a):
        return self.fn(a)


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


def _make(name: str, **params) -> Activation:
    p = dict(params)
    if name == "linear":
        return Activation("linear", lambda a: a, jnp.ones_like, 1.0)
    if name == "sigmoid":
        return Activation("sigmoid", jax.nn.sigmoid, _sigmoid_deriv, 0.25)
    if name == "tanh":
        return Activation("tanh", jnp.tanh, _sech2, 1.0)
    if name == "relu":
        return Activation("relu", jax.nn.relu, lambda a: _step(a, 0.0), 1.0)
    if name in ("leaky_relu", "prelu"):
        key = "alpha" if name == "leaky_relu" else "a"
        s = p.pop(key, 0.01 if name == "leaky_relu" else 0.25)
        check_scalar(key, s, nonneg=name == "leaky_relu")  # PReLU's slope may be negative
        s = float(s)
        return Activation(f"{name}({s:g})", lambda a: jnp.where(a > 0, a, s * a),
                          lambda a: _step(a, s), max(1.0, abs(s)))
    if name == "elu":
        al = p.pop("alpha", 1.0)
        check_scalar("alpha", al, nonneg=True)
        al = float(al)
        return Activation(f"elu({al:g})", lambda a: jnp.where(a > 0, a, al * jnp.expm1(jnp.minimum(a, 0))),
                          lambda a: jnp.where(a > 0, 1.0, al * jnp.exp(jnp.minimum(a, 0))).astype(a.dtype),
                          max(1.0, al))
    if name == "gelu":
        return Activation("gelu", lambda a: jax.nn.gelu(a, approximate=False), _gelu_deriv, 1.12905)
    if name == "silu":
        return Activation("silu", jax.nn.silu, _silu_deriv, 1.09984)
    if name == "erf":
        return Activation("erf", _erf, lambda a: (2.0 / math.sqrt(math.pi)) * jnp.exp(-a * a),
                          2.0 / math.sqrt(math.pi))
    if name == "hard_tanh":
        return Activation("hard_tanh", lambda a: jnp.clip(a, -1.0, 1.0),
                          lambda a: (jnp.abs(a) < 1).astype(a.dtype), 1.0)
    raise ValueError(f"name: unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}.")


ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "gelu",
               "silu", "erf", "hard_tanh")


def activation(name: str | Activation, **params) -> Activation:
    """Looks up an activation by name.

    Args:
      name: one of ``linear, sigmoid, tanh, relu, leaky_relu, prelu, elu, gelu, silu, erf,
        hard_tanh`` (or an :class:`Activation`, returned unchanged).
      **params: ``alpha`` for leaky_relu (default 0.01) and elu (1.0); ``a`` for prelu (0.25).

    Returns:
      An :class:`Activation`.

    Raises:
      ValueError: unknown name, an unused parameter, a NaN/inf parameter, or a negative
        ``alpha`` (leaky_relu, elu). TypeError: ``name`` or a parameter of the wrong type.

    Example:
      >>> import jax.numpy as jnp
      >>> float(activation("tanh").deriv(jnp.float32(12.0))) > 0   # not exactly 0
      True
    """
    if isinstance(name, Activation):
        if params:
            raise ValueError(f"params: {sorted(params)} given with an Activation object.")
        return name
    if not isinstance(name, str):
        raise TypeError(f"name: expected an activation name (str), got {type(name).__name__}.")
    act = _make(name, **params)
    allowed = {"leaky_relu": {"alpha"}, "elu": {"alpha"}, "prelu": {"a"}}.get(name, set())
    extra = set(params) - allowed
    if extra:
        raise ValueError(f"params: {sorted(extra)} not understood by activation {name!r}.")
    return act
