"""Stochastic Lanczos quadrature (SLQ): the spectral density of a Hessian without forming it.

For a unit probe v, m Lanczos steps give ``T = S diag(θ) Sᵀ``; the Gauss quadrature rule
with nodes θ_j and weights τ_j = (S_{0j})² integrates ``vᵀ g(A) v`` exactly for every
polynomial g of degree ≤ 2m − 1. Averaging over P random probes estimates the spectral
measure ``(1/d) Σ_i δ(x − λ_i)``. Each probe's weights sum to one (S is orthogonal), and
they are divided by P, so the whole measure has mass exactly 1 (PyHessian PR #23 fixed a
version whose weights did not). The smooth density convolves this measure with a
Gaussian of stated width σ.

References:
  Golub & Meurant, "Matrices, Moments and Quadrature", 2010; Lin, Saad & Yang, "Approximating
  spectral densities of large matrices", SIAM Review 2016; Ghorbani, Krishnan & Xiao, "An
  investigation into neural net optimization via Hessian eigenvalue density", ICML 2019.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._cache import cached
from ._checks import check_float_dtype, check_int, check_matvec, check_scalar, check_vector
from ._hvp import hessian_operator
from ._lanczos import MatVec, lanczos_tridiag, tridiag_eigh
from ._operator import symmetric_matvec
from ._numerics import float_dtype


class SpectralMeasure(NamedTuple):
    """SLQ quadrature: ``P`` probes × ``m`` nodes.

    Attributes:
      nodes: ``[P, m]`` Ritz values θ_{pj}.
      weights: ``[P, m]`` τ_{pj}/P; non-negative, summing to 1 over everything.
    """

    nodes: Float[Array, "p m"]
    weights: Float[Array, "p m"]


def probe_dtype(dtype):
    """The probes' dtype: ``dtype``, a floating dtype, or the default float when None."""
    return check_float_dtype("dtype", float_dtype() if dtype is None else dtype)


def rademacher(key, shape, dtype):
    return jax.random.rademacher(key, shape, dtype=jnp.int8).astype(dtype)


@cached
def slq(
    matvec: MatVec,
    dim: int | None,
    key: Array,
    *,
    num_probes: int = 8,
    num_iters: int = 64,
    dtype=None,
) -> SpectralMeasure:
    """Stochastic Lanczos quadrature of a symmetric operator's spectral measure.

    Args:
      matvec: symmetric linear map ``[dim] -> [dim]``: a callable or a symmetric
        :class:`~vgtheory.LinearOperator` (e.g. a :func:`hessian_operator`).
      dim: d (Python int); None when ``matvec`` is an operator (its size).
      key: PRNG key for the Rademacher probes.
      num_probes: P ≥ 1 independent probes (run one after another: memory ~ m·d).
      num_iters: m Lanczos steps per probe, 1 ≤ m ≤ d.
      dtype: working dtype of the Lanczos vectors (default: the operator's, else JAX's
        default float).

    Returns:
      :class:`SpectralMeasure` whose weights sum to 1.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> a = jnp.diag(jnp.arange(1.0, 5.0))
      >>> mu = slq(lambda x: a @ x, 4, jax.random.key(0), num_probes=2, num_iters=4)
      >>> round(float(mu.weights.sum()), 6)
      1.0
    """
    matvec, dim, op_dtype = symmetric_matvec(matvec, "matvec", dim, " (Lanczos quadrature)")
    check_int("dim", dim, 1, 2**62)
    assert dim is not None  # check_int rejected None
    check_int("num_probes", num_probes, 1, 10**7)
    check_int("num_iters", num_iters, 1, dim)
    dtype = probe_dtype(op_dtype if dtype is None else dtype)
    check_matvec("matvec", matvec, dim, dtype, source="dim")
    keys = jax.random.split(key, num_probes)

    def one(k):
        tri = lanczos_tridiag(matvec, rademacher(k, (dim,), dtype), num_iters)
        theta, s = tridiag_eigh(tri.alpha, tri.beta)
        return theta, s[0] ** 2

    nodes, tau = jax.lax.map(one, keys)
    tau = tau / jnp.sum(tau, axis=1, keepdims=True)  # exact up to rounding; renormalised
    return SpectralMeasure(nodes, tau / num_probes)


def slq_density(measure: SpectralMeasure, grid: Float[Array, " g"], sigma: float) -> Float[Array, " g"]:
    """Gaussian-smoothed density ``ρ_σ(x) = Σ_{pj} w_{pj} N(x; θ_{pj}, σ²)``.

    Args:
      measure: output of :func:`slq` (or any nodes/weights pair, e.g. dense eigenvalues
        with weights 1/d, for a like-for-like reference).
      grid: ``[g]`` points x.
      sigma: smoothing width σ > 0 (same units as the eigenvalues); integrates to 1 over
        the real line.

    Returns:
      ``[g]`` density values.

    Raises:
      TypeError: ``measure`` without ``nodes``/``weights``; non-floating ``grid``.
      ValueError: ``grid`` not a vector; ``sigma`` not a positive finite number.
    """
    check_scalar("sigma", sigma, positive=True)
    grid = jnp.asarray(grid)
    check_vector("grid", grid)
    if not (hasattr(measure, "nodes") and hasattr(measure, "weights")):
        raise TypeError(f"measure: expected a SpectralMeasure (nodes, weights), got {type(measure).__name__}.")
    x = grid[:, None]
    th, w = measure.nodes.reshape(-1), measure.weights.reshape(-1)
    z = (x - th[None, :].astype(x.dtype)) / sigma
    g = jnp.exp(-0.5 * z**2) / (sigma * jnp.sqrt(2.0 * jnp.pi))
    return jnp.sum(g * w[None, :].astype(x.dtype), axis=1)


@cached(static=("mask",))
def hessian_slq(
    loss_fn: Callable, params, key: Array, *, num_probes: int = 8, num_iters: int = 64, mask=None
) -> SpectralMeasure:
    """SLQ spectral measure of the Hessian of ``loss_fn`` at ``params`` (or one block).

    Args:
      loss_fn: ``loss_fn(params) -> scalar``.
      params: parameter pytree.
      key: PRNG key for the probes.
      num_probes, num_iters: see :func:`slq` (``num_iters`` is capped at the dimension).
      mask: optional per-layer/per-block selection (see :func:`hessian_operator`).
    """
    check_int("num_iters", num_iters, 1, 2**62)
    op = hessian_operator(loss_fn, params, mask)
    return slq(op, op.dim, key, num_probes=num_probes, num_iters=min(num_iters, op.dim))
