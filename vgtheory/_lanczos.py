"""Lanczos with full reorthogonalisation, top-k eigenpairs at either end, and power iteration.

The Lanczos loop is a ``lax.fori_loop`` over a preallocated ``[m, d]`` basis; each step
orthogonalises the new vector against the whole basis twice (classical Gram–Schmidt
twice, "twice is enough"), so Ritz values do not repeat ("ghost" eigenvalues) as they do
in plain three-term Lanczos or drift as in power iteration. On an invariant subspace
(breakdown) the loop continues from the coordinate axis least covered by the basis,
orthogonalised against it, so
``num_iters = d`` gives the whole spectrum. The small tridiagonal problem ``T = QᵀAQ`` is
solved in float64 on the host (``jax.pure_callback``), whatever the working dtype.

References:
  C. Lanczos, J. Res. Nat. Bur. Standards 45 (1950); B. N. Parlett, "The Symmetric
  Eigenvalue Problem", SIAM 1998, ch. 13 (full reorthogonalisation, residual bound
  ‖A y − θ y‖ = |β_m s_{m,i}|); Giraud, Langou & Rozložník, "The loss of orthogonality in
  the Gram–Schmidt process", 2005 (twice is enough).
"""

from __future__ import annotations

from typing import Callable, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from ._cache import cached, value_checks
from ._checks import check_int, check_matvec, check_nonzero, check_scalar, check_vector
from ._hvp import HessianOperator, hessian_operator
from ._operator import LinearOperator, symmetric_matvec
from ._numerics import HIGHEST as _HI
from ._numerics import wide_dtype

MatVec = Callable[[Array], Array] | LinearOperator | HessianOperator
_V0 = {"v0": "start vector"}

Which = Literal["largest", "smallest", "largest_magnitude"]


class Tridiagonal(NamedTuple):
    """Output of :func:`lanczos_tridiag`.

    Attributes:
      alpha: ``[m]`` diagonal of ``T``.
      beta: ``[m]`` off-diagonal; ``beta[j] = T[j, j+1]`` for ``j < m−1`` and ``beta[m−1]``
        is the residual norm after the last step (0 where a breakdown restarted the loop).
      basis: ``[m, d]`` orthonormal Lanczos vectors (rows).
    """

    alpha: Float[Array, " m"]
    beta: Float[Array, " m"]
    basis: Float[Array, "m d"]


class Eigenpairs(NamedTuple):
    """Top-k eigenpairs from :func:`lanczos_eigh`.

    Attributes:
      values: ``[k]`` Ritz values in the order ``which`` asks for.
      vectors: ``[k, d]`` unit Ritz vectors (rows).
      residuals: ``[k]`` ‖A y − θ y‖ bounds ``|β_m s_{m,i}|`` (exact in exact arithmetic).
      converged: ``[k]`` whether ``residual ≤ tol · max|θ|``.
      num_matvecs: number of operator applications used (``m``).
    """

    values: Float[Array, " k"]
    vectors: Float[Array, "k d"]
    residuals: Float[Array, " k"]
    converged: Bool[Array, " k"]
    num_matvecs: int


class PowerResult(NamedTuple):
    """Output of :func:`power_iteration`: eigenvalue of largest magnitude and its history."""

    value: Float[Array, ""]
    vector: Float[Array, " d"]
    history: Float[Array, " t"]
    residual: Float[Array, ""]


def _orth(basis, w):
    """Removes from ``w`` its components along the rows of ``basis`` (twice)."""
    for _ in range(2):
        w = w - jnp.matmul(jnp.matmul(basis, w, precision=_HI), basis, precision=_HI)
    return w


@cached(precheck=value_checks(nonzero=_V0))
def lanczos_tridiag(matvec: MatVec, v0: Float[Array, " d"], num_iters: int) -> Tridiagonal:
    """``m = num_iters`` steps of Lanczos with full reorthogonalisation.

    Args:
      matvec: symmetric linear map ``[d] -> [d]``: a callable or a symmetric
        :class:`~vgtheory.LinearOperator` (e.g. a :func:`hessian_operator`).
      v0: ``[d]`` start vector (any nonzero vector; normalised here).
      num_iters: m, 1 ≤ m ≤ d (Python int).

    Returns:
      A :class:`Tridiagonal` with ``T = basisᵀ-projected operator`` (``Q A Qᵀ`` tridiagonal).

    Raises:
      ValueError: ``v0`` not a real vector, or (when concrete) zero or non-finite (under
        ``jit`` such a ``v0`` gives NaN); ``num_iters`` outside [1, d]; ``matvec`` failing
        on or not returning a ``[d]`` vector, a non-symmetric operator. TypeError:
        ``matvec`` not callable.
    """
    check_vector("v0", v0)
    d = v0.shape[0]
    matvec, _, _ = symmetric_matvec(matvec, "matvec", d, " (Lanczos)")
    check_int("num_iters", num_iters, 1, d)
    check_matvec("matvec", matvec, d, v0.dtype, source="v0")
    check_nonzero("v0", v0, what="start vector")
    dtype = v0.dtype
    eps = jnp.finfo(dtype).eps
    q0 = v0 / jnp.linalg.norm(v0)
    basis = jnp.zeros((num_iters, d), dtype).at[0].set(q0)

    def step(j, carry):
        basis, alpha, beta, anorm = carry
        q = basis[j]
        w = matvec(q).astype(dtype)
        a = jnp.vdot(q, w, precision=_HI)
        w = _orth(basis, w)
        b = jnp.linalg.norm(w)
        anorm = jnp.maximum(anorm, jnp.abs(a) + b)
        broke = b <= 10.0 * jnp.sqrt(jnp.asarray(d, dtype)) * eps * anorm

        def restart(_):  # the coordinate axis least covered by the basis, orthogonalised
            r = jax.nn.one_hot(jnp.argmin(jnp.sum(basis**2, axis=0)), d, dtype=dtype)
            r = _orth(basis, r)
            return r / jnp.linalg.norm(r)

        nxt = jax.lax.cond(broke, restart, lambda _: w / jnp.where(broke, 1.0, b), None)
        idx = jnp.minimum(j + 1, num_iters - 1)
        basis = basis.at[idx].set(jnp.where(j + 1 < num_iters, nxt, basis[idx]))
        return basis, alpha.at[j].set(a), beta.at[j].set(jnp.where(broke, 0.0, b)), anorm

    zeros = jnp.zeros((num_iters,), dtype)
    basis, alpha, beta, _ = jax.lax.fori_loop(0, num_iters, step, (basis, zeros, zeros, jnp.zeros((), dtype)))
    return Tridiagonal(alpha, beta, basis)


def _host_tridiag_eigh(alpha, beta):
    alpha = np.asarray(alpha, np.float64)
    off = np.asarray(beta, np.float64)[:-1]
    t = np.diag(alpha) + np.diag(off, 1) + np.diag(off, -1)
    if not np.all(np.isfinite(t)):  # NaN in, NaN out (never raise inside XLA)
        m = alpha.shape[0]
        return np.full((m,), np.nan), np.full((m, m), np.nan)
    w, s = np.linalg.eigh(t)
    return w, s


def tridiag_eigh(alpha: Float[Array, " m"], beta: Float[Array, " m"]):
    """Eigen-decomposition of the Lanczos tridiagonal ``T``, computed in float64 on the host.

    Args:
      alpha: ``[m]`` diagonal; beta: ``[m]`` off-diagonal (last entry ignored).

    Returns:
      ``(theta [m] ascending, S [m, m])`` with ``T = S diag(θ) Sᵀ``; float64 when x64 is
      enabled, otherwise rounded to the input dtype after the float64 solve. NaN throughout
      when ``alpha`` or ``beta[:-1]`` holds NaN/inf.

    Raises:
      ValueError: ``alpha`` not a vector ``[m]`` or ``beta`` not of shape ``[m]``.
      TypeError: non-floating ``alpha`` or ``beta``.
    """
    alpha, beta = jnp.asarray(alpha), jnp.asarray(beta)
    check_vector("alpha", alpha)
    m = alpha.shape[-1]
    check_vector("beta", beta)
    if jnp.shape(beta) != (m,):
        raise ValueError(f"beta: expected shape ({m},) like alpha (last entry ignored), got {jnp.shape(beta)}.")
    if m < 1:
        raise ValueError("alpha: expected at least one diagonal entry, got shape (0,).")
    out_dtype = wide_dtype(alpha.dtype)
    shapes = (jax.ShapeDtypeStruct((m,), out_dtype), jax.ShapeDtypeStruct((m, m), out_dtype))

    def cb(a, b):
        w, s = _host_tridiag_eigh(a, b)
        return w.astype(out_dtype), s.astype(out_dtype)

    return jax.pure_callback(cb, shapes, alpha, beta, vmap_method="sequential")


def _select(theta, k: int, which: Which):
    if which == "largest":
        return jnp.arange(theta.shape[0] - 1, theta.shape[0] - 1 - k, -1)
    if which == "smallest":
        return jnp.arange(k)
    return jnp.argsort(-jnp.abs(theta))[:k]


@cached(precheck=value_checks(nonzero=_V0, scalars={"tol": {"nonneg": True}}))
def lanczos_eigh(
    matvec: MatVec,
    v0: Float[Array, " d"],
    k: int,
    *,
    which: Which = "largest",
    num_iters: int | None = None,
    tol: float | Float[Array, ""] | None = None,
) -> Eigenpairs:
    """Top-k eigenpairs of a symmetric operator by Lanczos with full reorthogonalisation.

    Args:
      matvec: symmetric linear map ``[d] -> [d]``: a callable or a symmetric
        :class:`~vgtheory.LinearOperator`.
      v0: ``[d]`` start vector (e.g. Gaussian from an explicit key); sets d and the dtype.
      k: number of eigenpairs, 1 ≤ k < d.
      which: ``"largest"`` (algebraic), ``"smallest"`` (algebraic) or
        ``"largest_magnitude"``.
      num_iters: Krylov dimension m, k ≤ m ≤ d; default ``min(d, max(2k + 20, 40))``.
      tol: relative residual for ``converged`` (default √eps of the dtype).

    Returns:
      :class:`Eigenpairs`; values in float64 when x64 is on (the tridiagonal is solved in
      float64 in any case).

    Raises:
      ValueError: for k ≥ d, unknown ``which``, m outside [k, d], a negative or
        non-finite ``tol``, or the ``v0``/``matvec`` problems of :func:`lanczos_tridiag`.
        Under ``jit`` a zero ``v0`` gives NaN values with ``converged`` all False.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> a = jnp.diag(jnp.arange(1.0, 11.0))
      >>> e = lanczos_eigh(lambda x: a @ x, jnp.ones(10), 2, num_iters=10)
      >>> [round(float(x), 4) for x in e.values]
      [10.0, 9.0]
    """
    check_vector("v0", v0)
    d = v0.shape[0]
    matvec, _, _ = symmetric_matvec(matvec, "matvec", d, " (Lanczos)")
    if which not in ("largest", "smallest", "largest_magnitude"):
        raise ValueError(f"which: expected 'largest', 'smallest' or 'largest_magnitude', got {which!r}.")
    check_int("k", k, 1, d - 1, what=f"k < dimension d={d}")
    m = min(d, max(2 * k + 20, 40)) if num_iters is None else num_iters
    check_int("num_iters", m, k, d)
    if tol is not None:
        check_scalar("tol", tol, nonneg=True)
    tri = lanczos_tridiag(matvec, v0, m)
    theta, s = tridiag_eigh(tri.alpha, tri.beta)
    sel = _select(theta, k, which)
    values, s_k = theta[sel], s[:, sel]
    vectors = jnp.matmul(s_k.T.astype(tri.basis.dtype), tri.basis, precision=_HI)
    residuals = jnp.abs(tri.beta[-1].astype(theta.dtype) * s_k[-1])
    tol = float(np.sqrt(np.finfo(v0.dtype).eps)) if tol is None else tol
    converged = residuals <= tol * jnp.max(jnp.abs(theta))
    return Eigenpairs(values, vectors, residuals, converged, m)


@cached(precheck=value_checks(nonzero=_V0))
def power_iteration(matvec: MatVec, v0: Float[Array, " d"], num_iters: int) -> PowerResult:
    """Power iteration for the eigenvalue of largest magnitude (the PyHessian baseline).

    ``v ← A v/‖A v‖``; the estimate after t products is the Rayleigh quotient ``vᵀ A v``
    (recorded in ``history``). Converges like ``|λ₂/λ₁|^{2t}``; used here only as the
    baseline that Lanczos must beat.

    Args:
      matvec: symmetric linear map ``[d] -> [d]``: a callable or a symmetric
        :class:`~vgtheory.LinearOperator`.
      v0: ``[d]`` start vector.
      num_iters: number of matvecs t ≥ 1.

    Returns:
      :class:`PowerResult` (value, unit vector, ``[t]`` Rayleigh-quotient history, residual
      ‖A v − θ v‖ of the final pair).

    Raises:
      ValueError: as :func:`lanczos_tridiag` for ``v0`` and ``matvec``; ``num_iters < 1``.
    """
    check_vector("v0", v0)
    matvec, _, _ = symmetric_matvec(matvec, "matvec", v0.shape[0], " (power iteration)")
    check_int("num_iters", num_iters, 1, 10**9)
    check_matvec("matvec", matvec, v0.shape[0], v0.dtype, source="v0")
    check_nonzero("v0", v0, what="start vector")
    v = v0 / jnp.linalg.norm(v0)

    def step(v, _):
        w = matvec(v).astype(v.dtype)
        theta = jnp.vdot(v, w, precision=_HI)
        return w / jnp.linalg.norm(w), (theta, jnp.linalg.norm(w - theta * v))

    v, (hist, res) = jax.lax.scan(step, v, None, length=num_iters)
    return PowerResult(hist[-1], v, hist, res[-1])


class HessianEigenpairs(NamedTuple):
    """Top-k Hessian eigenpairs with eigenvectors as parameter pytrees (leading axis k)."""

    values: Float[Array, " k"]
    vectors: object
    residuals: Float[Array, " k"]
    converged: Bool[Array, " k"]
    num_matvecs: int


@cached(static=("mask",), precheck=value_checks(scalars={"tol": {"nonneg": True}}))
def hessian_eigh(
    loss_fn: Callable,
    params,
    k: int,
    key: Array,
    *,
    which: Which = "largest",
    num_iters: int | None = None,
    mask=None,
    tol: float | Float[Array, ""] | None = None,
) -> HessianEigenpairs:
    """Top-k eigenpairs of the Hessian of ``loss_fn`` at ``params`` (or of one block).

    Args:
      loss_fn: ``loss_fn(params) -> scalar`` (a Flax ``apply`` closed over data works).
      params: parameter pytree.
      k: number of eigenpairs, 1 ≤ k < number of (selected) parameters.
      key: PRNG key for the start vector.
      which, num_iters, tol: see :func:`lanczos_eigh`.
      mask: optional per-layer/per-block selection (see :func:`hessian_operator`).

    Returns:
      :class:`HessianEigenpairs`; ``vectors`` is a pytree like ``params`` with a leading
      ``k`` axis (zeros outside the block).
    """
    op = hessian_operator(loss_fn, params, mask)
    v0 = jax.random.normal(key, (op.dim,), op.dtype)
    e = lanczos_eigh(op, v0, k, which=which, num_iters=num_iters, tol=tol)
    return HessianEigenpairs(e.values, jax.vmap(op.to_tree)(e.vectors), e.residuals, e.converged, e.num_matvecs)
