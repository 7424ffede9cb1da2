"""One linear-operator type for every matrix-free algorithm (in the spirit of lineax).

A :class:`LinearOperator` is a matrix ``A: [n] -> [m]`` known only through products:
``matvec(x) = A x``, ``rmatvec(u) = Aᵀ u`` (optional), its ``shape`` ``(m, n)``, ``dtype``
and whether it is ``symmetric``. Lanczos (:func:`~vgtheory.lanczos_eigh`,
:func:`~vgtheory.lanczos_tridiag`), :func:`~vgtheory.power_iteration`, SLQ
(:func:`~vgtheory.slq`) and the trace estimators (:func:`~vgtheory.hutchinson`,
:func:`~vgtheory.hutchpp`) take one wherever they take a plain ``matvec`` callable (which
keeps working, read as a symmetric ``[d] -> [d]`` map). :class:`~vgtheory.HessianOperator`
and :class:`~vgtheory.JacobianOperator` convert with :func:`as_operator`, so the top
singular values of a large Jacobian come out matrix-free — Lanczos on the normal operator
JᵀJ (:func:`lanczos_svd`) — on the same path as Hessian eigenvalues.

References:
  P. Kidger et al., lineax (``lineax/_operator.py``): operators as matvec + structure + tags.
  Golub & Van Loan, "Matrix Computations", 4th ed., §10.4 (Lanczos on AᵀA for the SVD).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from ._cache import cached, value_checks
from ._checks import ArgumentTypeError, short_repr, check_int, check_real_or_int
from ._numerics import HIGHEST, float_dtype


class LinearOperator(NamedTuple):
    """A matrix-free linear map ``A: [n] -> [m]``.

    Attributes:
      matvec: ``matvec(x: [n]) -> [m]``, A x.
      rmatvec: ``rmatvec(u: [m]) -> [n]``, Aᵀ u, or None when not available (for a
        symmetric operator, ``matvec`` is used).
      shape: ``(m, n)`` (Python ints).
      dtype: dtype of the vectors (None: the caller's default float).
      symmetric: whether A = Aᵀ (then m = n); Lanczos and SLQ require it.

    Example:
      >>> import jax.numpy as jnp
      >>> a = jnp.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
      >>> op = matrix_operator(a)
      >>> op.shape, op.T.shape, op.normal().symmetric
      ((3, 2), (2, 3), True)
      >>> op.normal().matvec(jnp.array([1.0, 0.0])).tolist()   # AᵀA e₁
      [35.0, 44.0]
    """

    matvec: Callable[[Array], Array]
    rmatvec: Callable[[Array], Array] | None
    shape: tuple
    dtype: Any = None
    symmetric: bool = False

    @property
    def T(self) -> "LinearOperator":  # noqa: N802 (as in NumPy)
        """The transpose Aᵀ: ``[m] -> [n]``."""
        if self.symmetric:
            return self
        if self.rmatvec is None:
            raise ValueError("operator: expected an rmatvec (Aᵀu) for the transpose, got None.")
        return LinearOperator(self.rmatvec, self.matvec, (self.shape[1], self.shape[0]), self.dtype, False)

    def normal(self) -> "LinearOperator":
        """The symmetric positive semi-definite ``AᵀA: [n] -> [n]`` (one matvec and one rmatvec)."""
        t = self.T
        return LinearOperator(lambda x: t.matvec(self.matvec(x)), None, (self.shape[1],) * 2, self.dtype, True)

    def as_matrix(self) -> Float[Array, "m n"]:
        """The dense ``[m, n]`` matrix, by n vmapped matvecs (for small operators and tests)."""
        dt = self.dtype if self.dtype is not None else float_dtype()
        return jax.vmap(self.matvec, out_axes=1)(jnp.eye(self.shape[1], dtype=dt))


def matrix_operator(a: Float[Array, "m n"], *, symmetric: bool = False) -> LinearOperator:
    """A dense ``[m, n]`` matrix as a :class:`LinearOperator` (products at highest precision)."""
    a = jnp.asarray(a)
    check_real_or_int("a", a)
    if a.ndim != 2:
        raise ValueError(f"a: expected a matrix [m, n], got shape {a.shape}.")
    if symmetric and a.shape[0] != a.shape[1]:
        raise ValueError(f"a: expected a square matrix for symmetric=True, got shape {a.shape}.")
    hi = HIGHEST
    return LinearOperator(
        lambda x: jnp.matmul(a, x, precision=hi),
        lambda u: jnp.matmul(u, a, precision=hi),
        tuple(a.shape),
        a.dtype,
        bool(symmetric),
    )


def is_operator(obj) -> bool:
    """Whether ``obj`` is an operator (a :class:`LinearOperator` or an object with a
    ``shape`` and ``matvec``/``mv`` products, such as a HessianOperator or JacobianOperator)."""
    return isinstance(obj, LinearOperator) or (
        hasattr(obj, "shape") and (callable(getattr(obj, "matvec", None)) or callable(getattr(obj, "mv", None)))
    )


def as_operator(operator, name: str = "operator") -> LinearOperator:
    """Converts ``operator`` to a :class:`LinearOperator`.

    Accepted: a :class:`LinearOperator`; an :class:`~vgtheory.HessianOperator` (symmetric);
    a :class:`~vgtheory.JacobianOperator` (``mv``/``rmv``/``shape``/``dtype``); any object
    with ``matvec``, ``shape`` and optionally ``rmatvec``, ``dtype``, ``symmetric``.

    Raises:
      TypeError: anything else (a plain callable has no shape: pass it with its dimension).
    """
    obj = operator
    if isinstance(obj, LinearOperator):
        return obj
    shape = getattr(obj, "shape", None)
    mv: Callable | None = getattr(obj, "matvec", None) or getattr(obj, "mv", None)
    if shape is None or not callable(mv):
        raise ArgumentTypeError(f"{name}: expected a linear operator (matvec, shape), got {short_repr(obj)}.")
    rmv = getattr(obj, "rmatvec", None) or getattr(obj, "rmv", None)
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2:
        raise ValueError(f"{name}: expected an operator of shape (m, n), got {shape}.")
    sym = bool(getattr(obj, "symmetric", False))
    return LinearOperator(mv, rmv, shape, getattr(obj, "dtype", None), sym)


def symmetric_matvec(obj, name: str, d: int | None = None, what: str = "") -> tuple[Callable, int | None, Any]:
    """The matvec of a symmetric map given as a plain callable or an operator.

    Returns ``(matvec, dim, dtype)``: for a callable, ``(obj, d, None)``; for an operator,
    its matvec, its dimension (checked against ``d`` when given) and dtype.

    Raises:
      ValueError: a non-square or non-symmetric operator (``what`` says why symmetry is
        needed), or a dimension that differs from ``d``.
    """
    if not is_operator(obj):
        return obj, d, None
    op = as_operator(obj, name)
    m, n = op.shape
    if m != n or not op.symmetric:
        raise ValueError(
            f"{name}: expected a symmetric operator{what}, got a "
            f"{'non-square ' if m != n else 'non-symmetric '}operator of shape {op.shape}"
            " (use op.normal() for AᵀA, or lanczos_svd for singular values)."
        )
    if d is not None and d != n:
        raise ValueError(f"{name}: operator of shape {op.shape} does not match dimension {d}.")
    return op.matvec, n, op.dtype


def square_matvec(obj, name: str, d: int | None = None) -> tuple[Callable, int | None, Any]:
    """As :func:`symmetric_matvec`, for maps that need only be square (trace estimators)."""
    if not is_operator(obj):
        return obj, d, None
    op = as_operator(obj, name)
    m, n = op.shape
    if m != n:
        raise ValueError(f"{name}: expected a square operator, got shape {op.shape}.")
    if d is not None and d != n:
        raise ValueError(f"{name}: operator of shape {op.shape} does not match dim={d}.")
    return op.matvec, n, op.dtype


class SingularTriplets(NamedTuple):
    """Top-k singular values of an operator from :func:`lanczos_svd`.

    Attributes:
      values: ``[k]`` σ₁ ≥ … ≥ σ_k.
      right_vectors: ``[k, n]`` unit right singular vectors v_i (rows).
      left_vectors: ``[k, m]`` unit left singular vectors u_i = A v_i / σ_i (rows).
      residuals: ``[k]`` Lanczos residual bounds ‖AᵀA v − σ² v‖.
      converged: ``[k]`` whether ``residual ≤ tol · σ₁²``.
      num_matvecs: products with A (and as many with Aᵀ) used.
    """

    values: Float[Array, " k"]
    right_vectors: Float[Array, "k n"]
    left_vectors: Float[Array, "k m"]
    residuals: Float[Array, " k"]
    converged: Bool[Array, " k"]
    num_matvecs: int


@cached(precheck=value_checks(scalars={"tol": {"nonneg": True}}))
def lanczos_svd(
    operator, k: int, key: Array, *, num_iters: int | None = None, tol: float | None = None, dtype=None
) -> SingularTriplets:
    """Top-k singular values and vectors of a matrix-free operator: Lanczos on AᵀA.

    Args:
      operator: a :class:`LinearOperator` or anything :func:`as_operator` takes (a
        :class:`~vgtheory.JacobianOperator`: the Jacobian of any map, never formed); needs
        ``rmatvec``.
      k: number of singular values, 1 ≤ k < n.
      key: PRNG key for the Gaussian start vector.
      num_iters: Krylov dimension (default as :func:`~vgtheory.lanczos_eigh`).
      tol: relative residual for ``converged`` (default √eps).
      dtype: working dtype (default the operator's, else JAX's default float).

    Returns:
      :class:`SingularTriplets`.

    Math:
      AᵀA v_i = σ_i² v_i; Lanczos with full reorthogonalisation gives the σ_i² to absolute
      accuracy ≈ ε σ₁², so σ_i to relative ≈ ε (σ₁/σ_i)²/2: the top of the spectrum is
      accurate, σ far below √ε σ₁ is not (use a dense SVD there).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> op = matrix_operator(jnp.diag(jnp.array([3.0, 2.0, 1.0, 0.5])))
      >>> [round(float(s), 4) for s in lanczos_svd(op, 2, jax.random.key(0), num_iters=4).values]
      [3.0, 2.0]
    """
    from ._checks import check_float_dtype
    from ._lanczos import lanczos_eigh

    op = as_operator(operator, "operator")
    if op.rmatvec is None and not op.symmetric:
        raise ValueError("operator: expected an rmatvec (Aᵀu) for singular values, got None.")
    m, n = op.shape
    check_int("k", k, 1, max(n - 1, 1), what=f"k < n={n}, the operator's input size")
    dt = dtype if dtype is not None else op.dtype
    dt = check_float_dtype("dtype", float_dtype() if dt is None else dt)
    v0 = jax.random.normal(key, (n,), dt)
    e = lanczos_eigh(op.normal(), v0, k, which="largest", num_iters=num_iters, tol=tol)
    sigma = jnp.sqrt(jnp.maximum(e.values, 0.0))
    left = jax.vmap(op.matvec)(e.vectors.astype(dt))
    left = left / jnp.where(sigma > 0, sigma, 1.0).astype(left.dtype)[:, None]
    return SingularTriplets(sigma, e.vectors, left, e.residuals, e.converged, e.num_matvecs)
