"""Hutchinson and Hutch++ estimates of a Hessian's trace, with standard errors.

Hutchinson: for Rademacher z, ``E[zᵀAz] = tr A`` and ``Var = 2 Σ_{i≠j} A_ij²``; the estimate
is the mean of n such samples and its SE the sample standard deviation over √n.

Hutch++ (Meyer, Musco, Musco & Woodruff 2021): sketch ``Q = orth(A S)`` with k Rademacher
columns, take the exact trace of the projected part ``tr(QᵀAQ)`` and a Hutchinson estimate
of the deflated remainder ``tr((I−QQᵀ)A(I−QQᵀ))``. Conditional on Q the remainder
estimate is unbiased, so the reported SE (from the remainder's samples) is honest; it is
small when the spectrum is dominated by a few large eigenvalues, as Hessians often are.

References:
  M. F. Hutchinson, Comm. Stat. Simul. Comput. 18 (1989); R. A. Meyer, C. Musco, C. Musco,
  D. P. Woodruff, "Hutch++: optimal stochastic trace estimation", SOSA 2021.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._cache import cached
from ._checks import check_int, check_matvec
from ._hvp import hessian_operator
from ._lanczos import MatVec
from ._operator import square_matvec, symmetric_matvec
from ._slq import probe_dtype, rademacher
from ._numerics import HIGHEST as _HI


class TraceEstimate(NamedTuple):
    """A stochastic trace estimate.

    Attributes:
      mean: the estimate of tr A.
      se: its standard error.
      n: number of random samples behind ``se``.
      num_matvecs: operator applications used in total.
    """

    mean: Float[Array, ""]
    se: Float[Array, ""]
    n: int
    num_matvecs: int


def _quad_samples(matvec, z):
    return jax.lax.map(lambda v: jnp.vdot(v, matvec(v).astype(v.dtype), precision=_HI), z)


def _mean_se(samples):
    n = samples.shape[0]
    return jnp.mean(samples), jnp.std(samples, ddof=1) / jnp.sqrt(jnp.asarray(n, samples.dtype))


@cached
def hutchinson(matvec: MatVec, dim: int | None, key: Array, num_samples: int, dtype=None) -> TraceEstimate:
    """Hutchinson's trace estimate ``(1/n) Σ zᵢᵀ A zᵢ`` with Rademacher ``zᵢ``.

    Args:
      matvec: linear map ``[dim] -> [dim]``: a callable or a square
        :class:`~vgtheory.LinearOperator`.
      dim: d (Python int); None when ``matvec`` is an operator (its size).
      key: PRNG key.
      num_samples: n ≥ 2 probes (= matvecs).
      dtype: probe dtype (default: the operator's, else JAX's default float).

    Returns:
      :class:`TraceEstimate`.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> t = hutchinson(lambda x: 2.0 * x, 5, jax.random.key(0), 4)
      >>> float(t.mean), float(t.se)
      (10.0, 0.0)
    """
    matvec, dim, op_dtype = square_matvec(matvec, "matvec", dim)
    check_int("dim", dim, 1, 2**62)
    assert dim is not None  # check_int rejected None
    check_int("num_samples", num_samples, 2, 10**9)
    dtype = probe_dtype(op_dtype if dtype is None else dtype)
    check_matvec("matvec", matvec, dim, dtype, source="dim")
    z = rademacher(key, (num_samples, dim), dtype)
    mean, se = _mean_se(_quad_samples(matvec, z))
    return TraceEstimate(mean, se, num_samples, num_samples)


@cached
def hutchpp(
    matvec: MatVec,
    dim: int | None,
    key: Array,
    num_matvecs: int,
    dtype=None,
    sketch_size: int | None = None,
) -> TraceEstimate:
    """Hutch++ trace estimate: exact trace on a sketched top subspace + deflated Hutchinson.

    Args:
      matvec: symmetric linear map ``[dim] -> [dim]``: a callable or a symmetric
        :class:`~vgtheory.LinearOperator`.
      dim: d (Python int); None when ``matvec`` is an operator (its size).
      key: PRNG key.
      num_matvecs: total budget M; the sketch uses k = ``sketch_size`` (default M//3,
        1 ≤ k < d) columns twice (A S, then Qᵀ A Q) and the remainder r = M − 2k ≥ 2
        Hutchinson probes.
      dtype: working dtype (default: the operator's, else JAX's default float).

    Returns:
      :class:`TraceEstimate` with ``n = r`` (the samples behind the SE).
    """
    matvec, dim, op_dtype = symmetric_matvec(matvec, "matvec", dim, " (Hutch++)")
    check_int("dim", dim, 2, 2**62)
    assert dim is not None  # check_int rejected None
    check_int("num_matvecs", num_matvecs, 4, 10**9)
    k = num_matvecs // 3 if sketch_size is None else sketch_size
    check_int("sketch_size", k, 1, min(dim - 1, (num_matvecs - 2) // 2))
    r = num_matvecs - 2 * k
    dtype = probe_dtype(op_dtype if dtype is None else dtype)
    check_matvec("matvec", matvec, dim, dtype, source="dim")
    k1, k2 = jax.random.split(key)
    s = rademacher(k1, (k, dim), dtype)
    y = jax.lax.map(lambda v: matvec(v).astype(dtype), s)  # [k, d]
    q = jnp.linalg.qr(y.T)[0].T  # [k, d] orthonormal rows
    exact = jnp.sum(_quad_samples(matvec, q))
    g = rademacher(k2, (r, dim), dtype)
    g = g - jnp.matmul(jnp.matmul(g, q.T, precision=_HI), q, precision=_HI)
    mean, se = _mean_se(_quad_samples(matvec, g))
    return TraceEstimate(exact + mean, se, r, 2 * k + r)


@cached(static=("mask",))
def hessian_trace(
    loss_fn: Callable, params, key: Array, num_matvecs: int, *, method: str = "hutchpp", mask=None
) -> TraceEstimate:
    """Trace of the Hessian of ``loss_fn`` at ``params`` (or one block), with its SE.

    Args:
      loss_fn: ``loss_fn(params) -> scalar``.
      params: parameter pytree.
      key: PRNG key.
      num_matvecs: HVP budget.
      method: ``"hutchpp"`` or ``"hutchinson"``.
      mask: optional per-layer/per-block selection (see :func:`hessian_operator`).
    """
    if method not in ("hutchpp", "hutchinson"):
        raise ValueError(f"method: expected 'hutchpp' or 'hutchinson', got {method!r}.")
    op = hessian_operator(loss_fn, params, mask)
    f = hutchpp if method == "hutchpp" else hutchinson
    return f(op, op.dim, key, num_matvecs)
