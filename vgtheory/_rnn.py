"""Recurrent cells as pure step functions h_{t+1} = F(params, h_t, x_t) over a flat state.

* Vanilla RNN: h_{t+1} = φ(W h_t + U x_t + b), φ ∈ {tanh, sigmoid, relu, ...}, W = g·G/√N
  with G Gaussian, or W = g·O with O Haar-orthogonal. φ (a name, an Activation or an
  elementwise callable) carries the stable derivative of :mod:`vgtheory._activations` as its
  custom JVP, so autodiff through a saturated tanh never returns an exact 0 in float32.
* LSTM and GRU: Flax's ``flax.linen.LSTMCell`` / ``GRUCell`` (used, not rewritten); the LSTM
  state is the flat vector [c; h] of size 2N, the GRU state is h.

Every step has the signature ``step(params, h, x)``; ``x=None`` means no input (zeros).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._activations import as_activation
from ._numerics import HIGHEST as _HI

INITS = ("gaussian", "orthogonal")


from ._checks import check_int, check_scalar, check_vector  # noqa: E402


class RNNParams(NamedTuple):
    """Vanilla RNN parameters: ``w [N, N]``, ``u [N, D]``, ``b [N]``."""

    w: Float[Array, "n n"]
    u: Float[Array, "n d"]
    b: Float[Array, " n"]


def _check_init(init):
    if init not in INITS:
        raise ValueError(f"init: expected one of {INITS}, got {init!r}.")


def recurrent_matrix(key, n: int, *, gain=1.0, init: str = "gaussian", dtype=jnp.float32):
    """W = g·G/√N (G_ij ~ N(0, 1)) or W = g·O (O Haar-orthogonal), ``[N, N]``."""
    check_int("n", n)
    check_scalar("gain", gain, nonneg=True)
    _check_init(init)
    if init == "gaussian":
        w = jax.random.normal(key, (n, n), dtype) / jnp.sqrt(jnp.asarray(n, dtype))
    else:
        w = nn.initializers.orthogonal()(key, (n, n), dtype)
    return jnp.asarray(gain, dtype) * w


def init_rnn(
    key, n: int, n_in: int = 1, *, gain=1.0, init: str = "gaussian", input_gain=1.0, bias_std=0.0, dtype=jnp.float32
) -> RNNParams:
    """Random vanilla RNN: W as :func:`recurrent_matrix`, U_ij ~ N(0, input_gain²/D), b ~ N(0, bias_std²).

    Args:
      key: PRNG key.
      n: hidden size N.
      n_in: input size D.
      gain: recurrent gain g (traced).
      init: ``"gaussian"`` or ``"orthogonal"``.
      input_gain, bias_std: input weight and bias scales (traced).
      dtype: parameter dtype.
    """
    check_int("n", n)
    check_int("n_in", n_in)
    check_scalar("input_gain", input_gain, nonneg=True)
    check_scalar("bias_std", bias_std, nonneg=True)
    kw, ku, kb = jax.random.split(key, 3)
    w = recurrent_matrix(kw, n, gain=gain, init=init, dtype=dtype)
    u = jnp.asarray(input_gain, dtype) * jax.random.normal(ku, (n, n_in), dtype) / jnp.sqrt(jnp.asarray(n_in, dtype))
    b = jnp.asarray(bias_std, dtype) * jax.random.normal(kb, (n,), dtype)
    return RNNParams(w, u, b)


def _stable(act):
    """φ with its stable derivative as JVP: the shared resolver's ``fn`` (built-ins are custom_jvp)."""
    return as_activation(act, "activation").fn


def rnn_step(
    params: RNNParams, h: Float[Array, " n"], x: Float[Array, " d"] | None = None, activation="tanh"
) -> Float[Array, " n"]:
    """h_{t+1} = φ(W h_t + U x_t + b); ``x=None`` drops the input term.

    Use ``functools.partial(rnn_step, activation="relu")`` for another φ (a name, an
    :class:`~vgtheory.Activation` or an elementwise callable).
    """
    check_vector("h", h, params.w.shape[0])
    if x is not None:
        check_vector("x", x, params.u.shape[1])
    a = jnp.matmul(params.w, h, precision=_HI) + params.b
    if x is not None:
        a = a + jnp.matmul(params.u, x, precision=_HI)
    return _stable(activation)(a)


class CellParams(NamedTuple):
    """Flax variables of a cell plus its input size (static through ``d``'s shape)."""

    variables: dict
    d: Float[Array, " d"]  # zeros of the input size: stands in for x=None


def _cell_init(module, key, n, n_in, dtype) -> dict[str, Any]:
    x = jnp.zeros((n_in,), dtype)
    carry = module.initialize_carry(jax.random.PRNGKey(0), (n_in,))
    return dict(module.init(key, carry, x))


def _recurrent_init(gain, init):
    _check_init(init)
    if init == "orthogonal":
        return nn.initializers.orthogonal(scale=gain)
    return lambda k, s, d=jnp.float32: gain * jax.random.normal(k, s, d) / math.sqrt(s[0])


def init_lstm(
    key, n: int, n_in: int = 1, *, forget_bias=0.0, gain=1.0, init: str = "orthogonal", dtype=jnp.float32
) -> CellParams:
    """Flax ``LSTMCell(n)`` parameters; the forget-gate bias b_f is set to ``forget_bias``.

    The recurrent kernels are g·O (orthogonal, Flax's default with g = 1) or Gaussian with
    entries N(0, g²/N); input kernels are Flax's default (LeCun normal).
    """
    check_int("n", n)
    check_int("n_in", n_in)
    check_scalar("gain", gain, nonneg=True)
    check_scalar("forget_bias", forget_bias)
    cell = nn.LSTMCell(n, param_dtype=dtype, recurrent_kernel_init=_recurrent_init(float(gain), init))
    v = _cell_init(cell, key, n, n_in, dtype)
    hf = dict(v["params"]["hf"])
    hf["bias"] = hf["bias"] + jnp.asarray(forget_bias, dtype)
    v = {"params": {**v["params"], "hf": hf}}
    return CellParams(v, jnp.zeros((n_in,), dtype))


def lstm_step(params: CellParams, h: Float[Array, " twon"], x=None) -> Float[Array, " twon"]:
    """One Flax ``LSTMCell`` step on the flat state [c; h] (size 2N)."""
    n = _check_cell_args(params, h, x, 2)
    c, hh = h[:n], h[n:]
    x = params.d if x is None else x
    (c, hh), _ = nn.LSTMCell(n).apply(params.variables, (c, hh), x)
    return jnp.concatenate([c, hh])


def lstm_forget_gate(params: CellParams, h: Float[Array, " twon"], x=None) -> Float[Array, " n"]:
    """f_t = σ(W_if x + W_hf h + b_f) read from the Flax cell's own parameters."""
    n = _check_cell_args(params, h, x, 2)
    x = params.d if x is None else x
    p = params.variables["params"]
    a = (
        jnp.matmul(x, p["if"]["kernel"], precision=_HI)
        + jnp.matmul(h[n:], p["hf"]["kernel"], precision=_HI)
        + p["hf"]["bias"]
    )
    return jax.nn.sigmoid(a)


def init_gru(key, n: int, n_in: int = 1, *, gain=1.0, init: str = "orthogonal", dtype=jnp.float32) -> CellParams:
    """Flax ``GRUCell(n)`` parameters (recurrent kernels g·O or Gaussian N(0, g²/N))."""
    check_int("n", n)
    check_int("n_in", n_in)
    check_scalar("gain", gain, nonneg=True)
    cell = nn.GRUCell(n, param_dtype=dtype, recurrent_kernel_init=_recurrent_init(float(gain), init))
    v = _cell_init(cell, key, n, n_in, dtype)
    return CellParams(v, jnp.zeros((n_in,), dtype))


def gru_step(params: CellParams, h: Float[Array, " n"], x=None) -> Float[Array, " n"]:
    """One Flax ``GRUCell`` step on h (size N)."""
    _check_cell_args(params, h, x, 1)
    x = params.d if x is None else x
    h, _ = nn.GRUCell(h.shape[0]).apply(params.variables, h, x)
    return h


def _check_cell_args(params, h, x, copies: int) -> int:
    """Checks a Flax cell's state (``copies``·N entries) and input against its parameters; returns N."""
    if not isinstance(params, CellParams):
        raise TypeError(f"params: expected CellParams (from init_lstm/init_gru), got {type(params).__name__}.")
    kernels = [
        leaf
        for path, leaf in jax.tree_util.tree_leaves_with_path(params.variables)
        if "kernel" in jax.tree_util.keystr(path) and "'h" in jax.tree_util.keystr(path)
    ]
    n = kernels[0].shape[0]
    check_vector("h", h, copies * n)
    if x is not None:
        check_vector("x", x, params.d.shape[0])
    return n


def initial_state(cell: str, n: int, dtype=jnp.float32) -> Float[Array, " m"]:
    """Zero state of the right flat size: N for ``"rnn"``/``"gru"``, 2N for ``"lstm"``."""
    check_int("n", n)
    if cell not in ("rnn", "gru", "lstm"):
        raise ValueError(f"cell: expected 'rnn', 'gru' or 'lstm', got {cell!r}.")
    return jnp.zeros((2 * n if cell == "lstm" else n,), dtype)
