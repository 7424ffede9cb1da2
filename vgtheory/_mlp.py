"""Deep fully connected networks: initialisations and the forward pass.

Convention (used throughout vgtheory): for l = 1..L,

    h_l = W_l x_{l−1} + b_l,      x_l = φ(h_l),

W_l has shape ``[n_l, n_{l−1}]`` and, under ``init="gaussian"``, entries N(0, σ_w²/n_{l−1})
(fan-in), biases N(0, σ_b²). When every width is equal the parameters are stacked
(``weights: [L, n, n]``) and depth is a ``lax.scan``: depth 10^4 compiles in seconds.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence, Union

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ._activations import as_activation
from ._checks import MatmulPrecision, check_float_dtype, check_precision, check_scalar

INITS = ("gaussian", "xavier", "he", "orthogonal", "identity")


class MLP(NamedTuple):
    """Parameters of an MLP.

    Attributes:
      weights: ``[L, n, n]`` when stacked (equal widths) or a tuple of ``[n_l, n_{l−1}]``.
      biases: ``[L, n]`` when stacked or a tuple of ``[n_l]``.
    """

    weights: Union[Float[Array, "L n n"], tuple]
    biases: Union[Float[Array, "L n"], tuple]

    @property
    def stacked(self) -> bool:
        return not isinstance(self.weights, (tuple, list))

    @property
    def depth(self) -> int:
        w = self.weights
        return len(w) if isinstance(w, (tuple, list)) else w.shape[0]


def _check_widths(widths):
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence):
        raise TypeError(f"widths: expected a list of ints [n_0, ..., n_L], got {widths!r}.")
    if len(widths) < 2:
        raise ValueError(f"widths: expected at least two entries (depth ≥ 1), got {list(widths)!r}.")
    for w in widths:
        if not isinstance(w, int) or isinstance(w, bool) or w < 1:
            raise ValueError(f"widths: every width must be a positive int, got {list(widths)!r}.")


def _one_layer(key, n_in, n_out, init, sigma_w2, sigma_b2, eps, dtype):
    kw, kb = jax.random.split(key)
    g = jax.random.normal(kw, (n_out, n_in), dtype)
    if init == "gaussian":
        w = jnp.sqrt(jnp.asarray(sigma_w2, dtype) / n_in) * g
    elif init == "xavier":
        w = jnp.sqrt(jnp.asarray(2.0 / (n_in + n_out), dtype)) * g
    elif init == "he":
        w = jnp.sqrt(jnp.asarray(2.0 / n_in, dtype)) * g
    elif init == "orthogonal":
        w = jnp.sqrt(jnp.asarray(sigma_w2, dtype)) * jax.nn.initializers.orthogonal()(kw, (n_out, n_in), dtype)
    else:  # identity + εG/√n
        w = jnp.eye(n_out, n_in, dtype=dtype) + jnp.asarray(eps, dtype) * g / jnp.sqrt(jnp.asarray(n_in, dtype))
    b = jnp.sqrt(jnp.asarray(sigma_b2, dtype)) * jax.random.normal(kb, (n_out,), dtype)
    return w, b


def init_mlp(
    key: jax.Array,
    widths: Sequence[int],
    *,
    init: str = "gaussian",
    sigma_w2: ArrayLike = 1.0,
    sigma_b2: ArrayLike = 0.0,
    eps: ArrayLike = 0.0,
    dtype=jnp.float32,
) -> MLP:
    """Draws MLP parameters.

    Args:
      key: PRNG key.
      widths: ``[n_0, n_1, ..., n_L]``; depth L = len(widths) − 1.
      init: ``"gaussian"`` (N(0, σ_w²/n_in)), ``"xavier"`` (Glorot normal, N(0, 2/(n_in+n_out))),
        ``"he"`` (N(0, 2/n_in)), ``"orthogonal"`` (√σ_w² · Haar-orthogonal) or
        ``"identity"`` (I + εG/√n_in, G standard normal).
      sigma_w2: weight variance σ_w² (gaussian) or gain² (orthogonal); may be traced.
      sigma_b2: bias variance σ_b² (all inits); may be traced.
      eps: perturbation scale of the identity init; may be traced.
      dtype: parameter dtype.

    Returns:
      An :class:`MLP`, stacked when all widths are equal.

    Raises:
      ValueError: bad widths, unknown init, negative variance, identity init on a
        non-square layer.

    References:
      Glorot & Bengio (2010); He et al. (2015); Saxe et al. (2014) for orthogonal init.
    """
    _check_widths(widths)
    if init not in INITS:
        raise ValueError(f"init: unknown initialisation {init!r}; expected one of {INITS}.")
    check_scalar("sigma_w2", sigma_w2, nonneg=True)
    check_scalar("sigma_b2", sigma_b2, nonneg=True)
    check_scalar("eps", eps, nonneg=True)
    dtype = check_float_dtype("dtype", dtype)
    if init == "identity" and len(set(widths)) != 1:
        raise ValueError(f"widths: the identity init needs equal widths, got {list(widths)!r}.")
    L = len(widths) - 1
    keys = jax.random.split(key, L)
    if len(set(widths)) == 1:
        n = widths[0]
        w, b = jax.vmap(lambda k: _one_layer(k, n, n, init, sigma_w2, sigma_b2, eps, dtype))(keys)
        return MLP(w, b)
    layers = [_one_layer(keys[i], widths[i], widths[i + 1], init, sigma_w2, sigma_b2, eps, dtype) for i in range(L)]
    return MLP(tuple(l[0] for l in layers), tuple(l[1] for l in layers))


def dense(w, x, precision: MatmulPrecision = "highest"):
    """``x @ wᵀ`` for ``x`` of shape ``[..., n_in]`` at explicit precision."""
    return jnp.matmul(x, w.T, precision=precision)


def _add_bias(h, b):
    """``h + b`` for ``h`` of shape ``[..., n]`` and a bias ``[n]`` (explicit broadcast)."""
    return h + jnp.broadcast_to(b, jnp.shape(h))


def preactivations(params: MLP, x: Float[Array, "... n0"], act, precision: MatmulPrecision = "highest"):
    """All pre-activations h_1..h_L for input ``x``.

    Returns:
      ``[L, ..., n]`` (stacked) or a list of ``[..., n_l]``.
    """
    act = as_activation(act)
    check_precision(precision)
    check_input(params, x)
    if params.stacked:

        def step(xp, wb):
            h = _add_bias(dense(wb[0], xp, precision), wb[1])
            return act.fn(h), h

        _, hs = jax.lax.scan(step, x, (params.weights, params.biases))
        return hs
    hs = []
    for w, b in zip(params.weights, params.biases):
        h = _add_bias(dense(w, x, precision), b)
        hs.append(h)
        x = act.fn(h)
    return hs


def mlp_apply(params: MLP, x: Float[Array, "... n0"], act, precision="highest") -> Float[Array, "... nL"]:
    """The network output x_L = φ(W_L ⋯ φ(W_1 x + b_1) ⋯ + b_L).

    Args:
      params: an :class:`MLP`.
      x: input, ``[n_0]`` or batched ``[..., n_0]``.
      act: an activation name or :class:`Activation`.
      precision: matmul precision (default ``"highest"``: true float32 on GPUs, not TF32).
    """
    act = as_activation(act)
    check_precision(precision)
    check_input(params, x)
    if params.stacked:

        def step(xp, wb):
            return act.fn(_add_bias(dense(wb[0], xp, precision), wb[1])), None

        return jax.lax.scan(step, x, (params.weights, params.biases))[0]
    for w, b in zip(params.weights, params.biases):
        x = act.fn(_add_bias(dense(w, x, precision), b))
    return x


def input_width(params: MLP) -> int:
    w = params.weights
    return w[0].shape[1] if isinstance(w, (tuple, list)) else w.shape[-1]


def check_input(params, x):
    if not isinstance(params, MLP):
        raise TypeError(f"params: expected an MLP (from init_mlp), got {type(params).__name__}.")
    n0 = input_width(params)
    dt = getattr(x, "dtype", None)
    if dt is not None and not jnp.issubdtype(dt, jnp.floating):
        raise TypeError(f"x: expected a real floating-point input, got dtype {dt}.")
    if jnp.ndim(x) < 1 or jnp.shape(x)[-1] != n0:
        raise ValueError(f"x: expected shape [..., {n0}] to match the first layer, got {jnp.shape(x)}.")
