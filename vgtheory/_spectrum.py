"""Singular values of (batches of) Jacobians: accurate, and shaped for matmul units.

Methods (``singular_values(a, method=...)``), for ``a`` of shape ``[..., m, n]``:

- ``"svd"``: ``jnp.linalg.svd(compute_uv=False)`` in float64 when x64 is enabled (result
  cast back to the input dtype), else in the input dtype. Exact to the output's rounding;
  LAPACK on CPU is fast, but batched SVD on GPUs is slow (2.45 s for 256 × 256² on an H100,
  PERF.md) and float32 SVD alone errs by ~1.5e-4 relative at σ = 1e-3·σ_max.
- ``"gram"``: G = AᵀA formed in float64 by a matmul, ``eigvalsh`` in float64, σ = √λ.
  The eigenvalues of G carry absolute error ≈ ε₆₄‖A‖², so σ_i errs by ≈ε₆₄(σ_max/σ_i)²
  relative: 1e-10 at σ = 1e-3·σ_max, up to ≈1e-4 at 1e-6·σ_max, useless below.
- ``"rayleigh"``: the eigenvectors V of that float64 Gram, then σ_i = ‖A v_i‖ with A V
  formed in float64 (a Rayleigh quotient: second order in the eigenvector error), so the
  1e-6·σ_max range is safe too. On an H100 ``eigh`` with vectors costs the same as
  ``eigvalsh``, so this is the GPU default.
- ``"jacobi"``: one-sided Jacobi (Hestenes) in float64 on B = A V, where V comes from a
  float32 ``eigh`` of the float32 Gram (a preconditioner: B's columns are nearly
  orthogonal, so 2–3 sweeps suffice), each sweep n−1 rounds of n/2 disjoint plane
  rotations applied to the whole batch at once. Relative accuracy ≈ε₆₄·κ(B·diag(σ)⁻¹)
  for *every* σ (Demmel & Veselić 1992) — the method for σ far below 1e-6·σ_max — but the
  rounds are sequential and memory-bound: O(sweeps·n) kernel passes.
Without x64 the "wide" dtype is the input dtype, so ``"gram"``/``"rayleigh"`` on float32
square the condition number (like ``eigvalsh(AᵀA)`` in float32): enable x64 for them.

- ``"auto"``: ``"svd"`` on CPU or when x64 is off (float64 cannot be formed; LAPACK is
  fast there); on accelerators ``"rayleigh"``.

Measured on one H100 (JAX 0.11.2, 256 Jacobians 256×256 of depth-32 tanh MLPs, κ up to
1e12; ``benchmarks/RESULTS.md``): Jacobians 11.5 ms; ``"rayleigh"`` 21.6 ms (1.9× the
Jacobians) with max relative error 5.9e-8 for σ ≥ 1e-3·σ_max and 3.7e-6 for
σ ≥ 1e-6·σ_max; ``"gram"`` 21.3 ms, 5.9e-8 / 3.9e-5; ``"jacobi"`` 2.3 s;
``jnp.linalg.svd`` float32 2.7 s with 2.2e-4 / 6.5e-2; ``torch.linalg.svdvals`` 4.7 s;
float32 ``eigvalsh(AᵀA)`` 7.6 ms but 0.21 / 1e2. A float32-eigh preconditioner followed by
float64 Rayleigh quotients is *not* enough (6.7e-2 at 1e-3·σ_max): float32 eigh errs by
ε₃₂‖A‖² in absolute terms, which swamps the small eigenvalues' eigenvectors.

References:
  Hestenes, J. SIAM 6 (1958): one-sided Jacobi. Demmel & Veselić, SIAM J. Matrix Anal.
  Appl. 13 (1992). Drmač & Veselić, SIAM J. Matrix Anal. Appl. 29 (2008): preconditioned
  one-sided Jacobi.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Real

from ._cache import cached, value_checks
from ._checks import check_int, check_real_or_int, check_scalar
from ._jacobian import JacobianOperator
from ._logspectrum import round_robin
from ._numerics import HIGHEST as _HI
from ._numerics import wide_dtype as _wide
from ._numerics import x64_enabled as _x64

METHODS = ("auto", "svd", "gram", "rayleigh", "jacobi")


def _check_matrix(name, a, square=False):
    if callable(getattr(a, "as_matrix", None)):  # a JacobianOperator: its flattened map, densified
        a = a.as_matrix()
    if not isinstance(a, (jax.Array, np.ndarray)) and not hasattr(a, "shape"):
        a = jnp.asarray(a)
    if a.ndim < 2:
        raise ValueError(f"{name}: expected a matrix [..., m, n], got shape {a.shape}.")
    if not jnp.issubdtype(a.dtype, jnp.floating):
        raise TypeError(f"{name}: expected a floating dtype, got {a.dtype}.")
    if square and a.shape[-1] != a.shape[-2]:
        raise ValueError(f"{name}: expected square matrices, got shape {a.shape}.")
    if a.shape[-1] < 1 or a.shape[-2] < 1:
        raise ValueError(f"{name}: expected non-empty matrices, got shape {a.shape}.")
    return jnp.asarray(a)


def resolve_method(method: str, shape, dtype=jnp.float32) -> str:
    """The concrete method ``"auto"`` stands for on this backend (see module docstring)."""
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}.")
    if method != "auto":
        return method
    if not _x64() or jax.default_backend() == "cpu" or min(shape[-2:]) < 16:
        return "svd"
    return "rayleigh"


def _gram(a, dtype):
    a = a.astype(dtype)
    return jnp.einsum("...mi,...mj->...ij", a, a, precision=_HI)


def _sv_svd(a):
    return jnp.linalg.svd(a.astype(_wide(a.dtype)), compute_uv=False)


def _sv_gram(a):
    lam = jnp.linalg.eigvalsh(_gram(a, _wide(a.dtype)))
    return jnp.sqrt(jnp.maximum(lam[..., ::-1], 0.0))


def _sv_rayleigh(a):
    w = _wide(a.dtype)
    _, v = jnp.linalg.eigh(_gram(a, w))
    b = jnp.matmul(a.astype(w), v, precision=_HI)
    return jnp.sort(jnp.sqrt(jnp.sum(b * b, axis=-2)), axis=-1)[..., ::-1]


def _jacobi_round(b, pairs):
    p, q = pairs[:, 0], pairs[:, 1]
    bp, bq = b[:, p], b[:, q]
    al = jnp.sum(bp * bp, axis=0)
    be = jnp.sum(bq * bq, axis=0)
    ga = jnp.sum(bp * bq, axis=0)
    nz = (ga != 0) & (al > 0) & (be > 0)
    off = jnp.max(jnp.where(nz, jnp.abs(ga) / jnp.sqrt(jnp.where(nz, al * be, 1.0)), 0.0))
    zeta = (be - al) / (2 * jnp.where(nz, ga, 1.0))
    t = jnp.where(zeta >= 0, 1.0, -1.0) / (jnp.abs(zeta) + jnp.sqrt(1.0 + zeta * zeta))
    t = jnp.where(nz, t, 0.0)
    c = 1.0 / jnp.sqrt(1.0 + t * t)
    c, s = c[None, :], (c * t)[None, :]  # one rotation per column pair, applied to every row
    b = b.at[:, p].set(c * bp - s * bq).at[:, q].set(s * bp + c * bq)
    return b, off


def _one_sided_jacobi(b, tol, max_sweeps):
    n = b.shape[1]
    if n % 2:
        b = jnp.concatenate([b, jnp.zeros((b.shape[0], 1), b.dtype)], axis=1)
    rounds = jnp.asarray(round_robin(b.shape[1]))

    def sweep(carry):
        b, _, k = carry

        def body(c, pairs):
            b, off = c
            b, o = _jacobi_round(b, pairs)
            return (b, jnp.maximum(off, o)), None

        (b, off), _ = jax.lax.scan(body, (b, jnp.zeros((), b.dtype)), rounds)
        return b, off, k + 1

    def cond(carry):
        return (carry[1] > tol) & (carry[2] < max_sweeps)

    b, off, k = jax.lax.while_loop(cond, sweep, (b, jnp.asarray(jnp.inf, b.dtype), 0))
    s = jnp.sqrt(jnp.sum(b * b, axis=0))[:n]
    return jnp.sort(s)[::-1]


def _sv_jacobi(a, tol, max_sweeps):
    w = _wide(a.dtype)
    if a.shape[-2] < a.shape[-1]:
        a = jnp.swapaxes(a, -1, -2)
    _, v = jnp.linalg.eigh(_gram(a, a.dtype))  # float32 preconditioner
    # V is orthogonal only to ~ε₃₂·√n, and σ(AV) = σ(A)(1 + O(‖VᵀV − I‖)): one
    # Newton–Schulz step in the wide dtype, V ← V(3I − VᵀV)/2, squares that error away.
    v = v.astype(w)
    vtv = jnp.einsum("...ki,...kj->...ij", v, v, precision=_HI)
    eye = jnp.eye(v.shape[-1], dtype=w)
    v = 0.5 * jnp.matmul(v, 3 * jnp.broadcast_to(eye, vtv.shape) - vtv, precision=_HI)
    b = jnp.matmul(a.astype(w), v, precision=_HI)
    tol = 10 * float(jnp.finfo(a.dtype).eps) if tol is None else tol
    flat = b.reshape((-1,) + b.shape[-2:])
    out = jax.vmap(lambda x: _one_sided_jacobi(x, tol, max_sweeps))(flat)
    return out.reshape(b.shape[:-2] + out.shape[-1:])


@cached(precheck=value_checks(scalars={"tol": {"positive": True}}))
def singular_values(
    a: Float[ArrayLike, "... m n"] | JacobianOperator,
    *,
    method: str = "auto",
    tol: float | None = None,
    max_sweeps: int = 12,
) -> Float[Array, "... k"]:
    """Singular values, descending, of a matrix or a batch of matrices.

    Args:
      a: ``[..., m, n]`` floating array (leading axes are a batch), or a
        :class:`~vgtheory.JacobianOperator` (the ``[m, n]`` matrix of its flattened map,
        materialised by min(m, n) jvps/vjps).
      method: ``"auto"``, ``"svd"``, ``"gram"``, ``"rayleigh"`` or ``"jacobi"``; the
        trade-offs are in the module docstring. Float64 is used internally when x64 is
        enabled; the result has ``a``'s dtype.
      tol: ``"jacobi"`` only: stop when every column pair's cosine is below ``tol``
        (default 10·eps of ``a``'s dtype).
      max_sweeps: ``"jacobi"`` only: static bound on sweeps.

    Returns:
      ``[..., min(m, n)]`` singular values, descending, in ``a``'s dtype.

    Raises:
      ValueError: bad shape, unknown method, ``max_sweeps < 1`` or a non-positive ``tol``.
      TypeError: non-floating input.

    Example:
      >>> import jax.numpy as jnp
      >>> singular_values(jnp.diag(jnp.array([3.0, -1.0, 2.0])), method="svd").tolist()
      [3.0, 2.0, 1.0]
    """
    a = _check_matrix("a", a)
    m = resolve_method(method, a.shape, a.dtype)
    check_int("max_sweeps", max_sweeps)
    if tol is not None:
        check_scalar("tol", tol, positive=True)
    k = min(a.shape[-2:])
    if m == "svd":
        s = _sv_svd(a)
    elif m == "jacobi":
        s = _sv_jacobi(a, tol, max_sweeps)
    else:
        if a.shape[-2] < a.shape[-1]:
            a = jnp.swapaxes(a, -1, -2)
        s = _sv_gram(a) if m == "gram" else _sv_rayleigh(a)
    return s[..., :k].astype(a.dtype)


class Spectrum(NamedTuple):
    """Singular values with derived quantities and a finiteness flag.

    Attributes:
      singular_values: ``[..., k]`` descending.
      log_singular_values: ``[..., k]`` (−inf for exact zeros).
      condition: ``[...]`` σ_max/σ_min (inf when singular).
      finite: ``[...]`` False where the input held NaN/inf (the numbers are then meaningless).
    """

    singular_values: Float[Array, "... k"]
    log_singular_values: Float[Array, "... k"]
    condition: Float[Array, "..."]
    finite: Array


def spectrum(a: Float[ArrayLike, "... m n"] | JacobianOperator, *, method: str = "auto") -> Spectrum:
    """Singular values of a matrix or batch, with logs, condition numbers and a finite flag.

    Example:
      >>> import jax.numpy as jnp
      >>> r = spectrum(jnp.array([[2.0, 0.0], [0.0, jnp.nan]]), method="svd")
      >>> bool(r.finite)
      False
    """
    a = _check_matrix("a", a)
    finite = jnp.all(jnp.isfinite(a), axis=(-2, -1))
    s = singular_values(jnp.where(finite[..., None, None], a, 0.0), method=method)
    s = jnp.where(finite[..., None], s, jnp.nan)
    return Spectrum(s, jnp.log(s), s[..., 0] / s[..., -1], finite)


def condition_number(a: Float[ArrayLike, "... m n"] | JacobianOperator, *, method: str = "auto") -> Float[Array, "..."]:
    """σ_max/σ_min (inf for a singular matrix) of a matrix or batch."""
    s = singular_values(a, method=method)
    return s[..., 0] / s[..., -1]


class SpectrumMoments(NamedTuple):
    """Moments of the eigenvalues λ_i = σ_i² of JJᵀ (normalised trace, per matrix).

    Attributes:
      moments: ``[..., k]``: m_j = (1/N) Σ_i λ_i^j, j = 1..k, N = number of eigenvalues.
      mean: m_1.
      variance: m_2 − m_1² (the spread of the spectrum, Pennington et al. 2017's σ²_JJᵀ).
    """

    moments: Float[Array, "... k"]
    mean: Float[Array, "..."]
    variance: Float[Array, "..."]


def jjt_moments(
    j: Float[ArrayLike, "... m n"] | JacobianOperator, k: int = 2, *, method: str = "trace", rows: bool = True
) -> SpectrumMoments:
    """Moments of the spectrum of JJᵀ.

    Args:
      j: ``[..., m, n]`` Jacobians.
      k: highest moment (static, ≥ 2 so the variance exists).
      method: ``"trace"`` (default): m_p = tr((JJᵀ)^p)/N by matmuls at highest precision
        (no decomposition; sums of non-negative terms, so no cancellation); or any
        :func:`singular_values` method, m_p = Σ σ_i^{2p}/N.
      rows: normalise by N = m (eigenvalues of the m×m matrix JJᵀ, zeros included) if True,
        else by min(m, n).

    Returns:
      :class:`SpectrumMoments`.

    Example:
      >>> import jax.numpy as jnp
      >>> r = jjt_moments(jnp.diag(jnp.array([1.0, 2.0])), 2)
      >>> float(r.mean), float(r.variance)   # eigenvalues 1, 4
      (2.5, 2.25)
    """
    check_int("k", k, 2)
    j = _check_matrix("j", j)
    norm = j.shape[-2] if rows else min(j.shape[-2:])
    if method == "trace":
        w = j.astype(_wide(j.dtype))
        a = jnp.einsum("...ik,...jk->...ij", w, w, precision=_HI)
        mom, p = [], a
        for _ in range(k):
            mom.append(jnp.trace(p, axis1=-2, axis2=-1) / norm)
            p = jnp.matmul(p, a, precision=_HI)
        mom = jnp.stack(mom, axis=-1).astype(j.dtype)
    else:
        lam = singular_values(j, method=method).astype(_wide(j.dtype)) ** 2
        mom = jnp.stack([jnp.sum(lam**p, axis=-1) / norm for p in range(1, k + 1)], axis=-1).astype(j.dtype)
    return SpectrumMoments(mom, mom[..., 0], mom[..., 1] - mom[..., 0] ** 2)


class Density(NamedTuple):
    """A normalised histogram: ``sum(density * widths) == 1``."""

    edges: Float[Array, " b1"]
    centers: Float[Array, " b"]
    density: Float[Array, " b"]


def spectral_density(
    values: Real[ArrayLike, "..."], bins: int = 50, value_range: tuple[float, float] | None = None
) -> Density:
    """Histogram density of (pooled) spectrum values, e.g. the σ² of an ensemble.

    Args:
      values: any shape, pooled (non-finite values are dropped).
      bins: number of bins (static).
      value_range: ``(lo, hi)``; default the finite min and max.

    Returns:
      :class:`Density` (density integrates to 1 over the range, against the theory curve,
      e.g. :func:`vgtheory.theory.marchenko_pastur_density`).

    Raises:
      ValueError: ``bins`` not an int ≥ 1, no finite value, ``value_range`` not finite
        ``lo < hi``. TypeError: complex (or boolean) ``values``.
    """
    check_int("bins", bins)
    v = np.asarray(values)
    check_real_or_int("values", v)
    v = v.astype(np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ValueError("values: no finite values to histogram.")
    if value_range is not None:
        try:
            lo, hi = (float(b) for b in value_range)
        except (TypeError, ValueError):
            raise TypeError(f"value_range: expected (lo, hi), got {value_range!r}.") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"value_range: expected finite lo < hi, got {value_range!r}.")
    dens, edges = np.histogram(v, bins=bins, range=value_range, density=True)
    return Density(jnp.asarray(edges), jnp.asarray(0.5 * (edges[1:] + edges[:-1])), jnp.asarray(dens))
