"""Backpropagation through time in log domain: log‖∂L/∂h_t‖² against the lag T − t.

For a loss L(h_T) at the end of a trajectory h_{t+1} = F(h_t, x_t; θ), the gradient obeys
∂L/∂h_t = J_{t+1}ᵀ ∂L/∂h_{t+1} with J_{t+1} = ∂h_{t+1}/∂h_t (one VJP of the step). The
backward vector is renormalised at every step and its log-norms summed, so T = 10⁴ stays
finite in float32 whatever the decay or growth rate. The state may be any pytree (a Flax
LSTM carry ``(c, h)``); the norm is the Euclidean norm over all its leaves (the flat state,
``jax.flatten_util.ravel_pytree``).

Reference: Pascanu, Mikolov & Bengio (2013), "On the difficulty of training recurrent
neural networks", eqs. (3)–(7).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from ._cache import cached, value_checks
from ._checks import check_nonzero, check_precision, ScopedPrecision
from ._recurrence import flat_recurrence, flat_vector
from ._numerics import acc_dtype


class BPTTResult(NamedTuple):
    """Gradient norms through time, in the toolkit's one convention: log of squared norms
    (as :class:`GradientFlow` and :class:`ModuleGradientFlow`).

    Attributes:
      log_sq_norms: ``[T+1]`` log‖∂L/∂h_t‖² for t = 0..T (natural log).
      lag: ``[T+1]`` T − t.
      finite: ``[]`` whether every state and log-norm is finite.
    """

    log_sq_norms: Float[Array, " T1"]
    lag: Float[Array, " T1"]
    finite: Bool[Array, ""]

    @property
    def log_norms(self) -> Float[Array, " T1"]:
        """log‖∂L/∂h_t‖ = ``log_sq_norms / 2`` (the field of vgtheory 0.1, kept for its code;
        per step it is the rate a Lyapunov exponent is compared with)."""
        return self.log_sq_norms / 2


@cached(static=("precision",), precheck=value_checks(nonzero={"cotangent": "cotangent"}))
def bptt_gradient_norms(
    step: Callable,
    params,
    h0: Any,
    inputs: Any = None,
    *,
    steps: int,
    cotangent: Any = None,
    precision: ScopedPrecision = "highest",
) -> BPTTResult:
    """log‖∂L/∂h_t‖², t = 0..T, for L with ∂L/∂h_T = ``cotangent`` (default 1/√N·ones).

    Args:
      step: ``step(params, h, x) -> h_next`` (x is None when ``inputs`` is None).
      params: parameters of ``step``.
      h0: initial state: an ``[N]`` vector or any pytree of arrays of one floating dtype
        (e.g. Flax's LSTM carry ``(c, h)``), N entries in all.
      inputs: ``[steps, ...]``, a pytree whose leaves all have the leading axis ``steps``,
        or None.
      steps: T (Python int ≥ 1).
      cotangent: ∂L/∂h_T, a pytree shaped like ``h0`` or the flat ``[N]`` vector.
      precision: default matmul precision while tracing ``step``.

    Returns:
      :class:`BPTTResult` in ``h0``'s dtype (sums accumulated in float64 under x64); the
      norms are of the whole (flattened) state's gradient, natural log of the squared norm
      (``.log_norms`` is half of it).

    Raises:
      TypeError: ``step`` not callable; ``h0`` or ``cotangent`` not real floating.
      ValueError: bad ``steps``, ``h0``, ``inputs``, ``cotangent`` (wrong shape or
        structure; zero or non-finite when concrete), a ``step`` that fails on a state
        shaped like ``h0`` or whose output structure, shape or dtype differs from the state's. A non-finite trajectory (or,
        under ``jit``, a zero cotangent) is flagged by ``finite = False``.

    Example:
      >>> import jax.numpy as jnp
      >>> r = bptt_gradient_norms(lambda p, h, x: p * h, 0.5, jnp.ones(3), steps=4)
      >>> [round(float(v), 4) + 0.0 for v in r.log_sq_norms]
      [-5.5452, -4.1589, -2.7726, -1.3863, 0.0]
    """
    precision = check_precision(precision, scoped=True)
    rec = flat_recurrence(step, params, h0, inputs, steps)
    n, step, dtype = rec.n, rec.step, rec.h0.dtype
    acc = acc_dtype()
    if cotangent is None:
        g = jnp.ones((n,), dtype) / jnp.sqrt(jnp.asarray(n, dtype))
    else:
        g = flat_vector("cotangent", cotangent, h0, n, dtype)
        check_nonzero("cotangent", g, what="cotangent")
    with jax.default_matmul_precision(precision):

        def fwd(h, x):
            return step(params, h, x), h

        _, hs = jax.lax.scan(fwd, rec.h0, inputs, length=steps)  # h_0..h_{T-1}

        def bwd(c, hx):
            g, s = c
            h, x = hx
            _, vjp = jax.vjp(lambda hh: step(params, hh, x), h)
            g = vjp(g)[0]
            nrm = jnp.linalg.norm(g)
            s = s + jnp.log(nrm).astype(acc)  # −inf once the gradient is exactly 0 (dead ReLUs)
            return (g / jnp.where(nrm > 0, nrm, 1.0), s), s

        nrm0 = jnp.linalg.norm(g)
        s0 = jnp.log(nrm0).astype(acc)
        (_, _), ss = jax.lax.scan(bwd, (g / nrm0, s0), (hs, inputs), reverse=True)
    log_norms = jnp.concatenate([ss, s0[None]])
    lag = jnp.arange(steps, -1, -1).astype(dtype)
    finite = jnp.all(jnp.isfinite(log_norms)) & jnp.all(jnp.isfinite(hs))
    return BPTTResult((2 * log_norms).astype(dtype), lag, finite)
