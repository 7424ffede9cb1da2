"""Sample statistics that every Monte Carlo check reports: estimate, standard error, n.

Gradient norms through depth are products of many factors, so they are close to
log-normal; their sample mean is dominated by rare draws. Claims therefore compare
log-moments where they can, and the mean only where its second moment is under control.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ._checks import check_int, check_real_or_int, concrete


class Estimate(NamedTuple):
    """A Monte Carlo estimate of a mean.

    Attributes:
      mean: sample mean, any shape.
      se: standard error of the mean (sample standard deviation with ddof=1 over √n).
      n: number of independent samples.
    """

    mean: Float[Array, "..."]
    se: Float[Array, "..."]
    n: int


def estimate(samples: ArrayLike, axis: int = 0) -> Estimate:
    """Sample mean and its standard error along ``axis``.

    Args:
      samples: array whose ``axis`` indexes independent draws; at least 2 of them.
      axis: the sample axis.

    Returns:
      An :class:`Estimate` with the sample axis reduced.

    Raises:
      ValueError: if fewer than two samples are given.

    Example:
      >>> import jax.numpy as jnp
      >>> e = estimate(jnp.array([1.0, 2.0, 3.0]))
      >>> float(e.mean), round(float(e.se), 4), e.n
      (2.0, 0.5774, 3)
    """
    samples = jnp.asarray(samples)
    check_real_or_int("samples", samples)
    if samples.ndim and not -samples.ndim <= axis < samples.ndim:
        raise ValueError(f"axis: {axis} is out of range for samples of shape {samples.shape}.")
    n = samples.shape[axis] if samples.ndim else 0
    if n < 2:
        raise ValueError(
            f"samples: need at least 2 draws along axis {axis} to estimate a standard error, got shape {samples.shape}."
        )
    mean = jnp.mean(samples, axis=axis)
    se = jnp.std(samples, axis=axis, ddof=1) / math.sqrt(n)
    return Estimate(mean, se, n)


def ratio_estimate(num: ArrayLike, den: ArrayLike) -> Estimate:
    """Estimate of E[num]/E[den] with a delta-method standard error (paired samples).

    Args:
      num, den: paired samples ``[n, ...]`` (axis 0 indexes the draws, n ≥ 2), real.

    Raises:
      ValueError: shapes differ or fewer than 2 draws; a concrete ``den`` whose sample mean
        is 0 (the ratio is undefined).
      TypeError: complex or non-numeric samples.
    """
    num, den = jnp.asarray(num), jnp.asarray(den)
    check_real_or_int("num", num)
    check_real_or_int("den", den)
    if num.shape != den.shape or num.ndim == 0 or num.shape[0] < 2:
        raise ValueError(
            f"num, den: expected paired samples of equal shape with at least 2 draws, got {num.shape} and {den.shape}."
        )
    a, b = estimate(num), estimate(den)
    mean = concrete(b.mean)  # traced samples (inside the caller's jit) are not checked
    zero = np.zeros((), bool) if mean is None else mean == 0
    if zero.any():
        raise ValueError(
            f"den: the sample mean of den is 0 ({int(zero.sum())} of {zero.size} entries): "
            f"E[num]/E[den] is undefined; expected a non-zero mean."
        )
    r = a.mean / b.mean
    n = a.n
    cov = jnp.mean((num - a.mean) * (den - b.mean)) * n / (n - 1) / n
    var = (a.se**2 - 2 * r * cov + r**2 * b.se**2) / b.mean**2
    return Estimate(r, jnp.sqrt(jnp.maximum(var, 0.0)), n)


def variance_estimate(samples: ArrayLike) -> Estimate:
    """Unbiased sample variance with its standard error (from the fourth central moment).

    SE² = (m4 − (n−3)/(n−1)·s⁴)/n, the large-sample variance of the sample variance.

    Raises:
      ValueError: fewer than 4 draws along axis 0. TypeError: complex or non-numeric samples.
    """
    x = jnp.asarray(samples)
    check_real_or_int("samples", x)
    n = x.shape[0] if x.ndim else 0
    if n < 4:
        raise ValueError(f"samples: need at least 4 draws along axis 0 for a variance SE, got shape {x.shape}.")
    c = x - jnp.mean(x, axis=0)
    s2 = jnp.sum(c**2, axis=0) / (n - 1)
    m4 = jnp.mean(c**4, axis=0)
    var_s2 = (m4 - (n - 3) / (n - 1) * s2**2) / n
    return Estimate(s2, jnp.sqrt(jnp.maximum(var_s2, 0.0)), n)


def log_mean_estimate(samples, axis: int = 0) -> Estimate:
    """Estimate of log E[x] with its delta-method bias correction and standard error.

    With m̂ the sample mean and s² the sample variance of n draws,

        log E[x] ≈ log m̂ + s²/(2 n m̂²),    SE = s/(√n m̂),

    the second-order delta method: E log m̂ = log μ − Var(m̂)/(2μ²) + O(n⁻²) (Casella & Berger,
    *Statistical Inference*, §5.5.4) — log m̂ is biased low (Jensen), so the correction is added. Valid while SE ≪ 1 (the relative error of m̂ is small);
    for a quantity whose mean is carried by a few members (see ``EnsembleResult.top_share``)
    neither the mean nor its log is resolved, whatever this SE says.

    Args:
      samples: draws along ``axis`` (at least 2), real; or streamed moments: an
        :class:`Estimate` or an ``EnsembleResult`` (``mean``, ``se``, ``n``; pytrees allowed),
        for which s²/n = se².
      axis: the sample axis (arrays only).

    Returns:
      An :class:`Estimate` of log E[x] (pytree-shaped for an ``EnsembleResult``).

    Raises:
      ValueError: fewer than 2 draws, or a concrete sample mean ≤ 0 (log undefined).
      TypeError: complex or non-numeric samples.

    Example:
      >>> import numpy as np
      >>> e = log_mean_estimate(np.array([1.0, 2.0, 3.0, 6.0]))
      >>> round(float(e.mean), 4), round(float(e.se), 4)
      (1.1634, 0.36)
    """
    if all(hasattr(samples, f) for f in ("mean", "se", "n")) and not hasattr(samples, "shape"):
        mean, se, n = samples.mean, samples.se, int(samples.n)
    else:
        mean, se, n = estimate(samples, axis)
    import jax

    for m in jax.tree_util.tree_leaves(mean):
        m = concrete(m)
        bad = np.zeros((), bool) if m is None else ~(np.asarray(m) > 0)
        if bad.any():
            raise ValueError(
                f"samples: the sample mean is ≤ 0 (or NaN) in {int(bad.sum())} of {bad.size} entries: "
                "log E[x] is undefined; expected a positive mean."
            )
    fix = lambda m, s: jnp.log(m) + 0.5 * (s / m) ** 2
    rel = lambda m, s: s / m
    return Estimate(jax.tree_util.tree_map(fix, mean, se), jax.tree_util.tree_map(rel, mean, se), n)


class EnsembleScalar(NamedTuple):
    """One element of an ``EnsembleResult``: mean, SE, n and its tail diagnostics (floats)."""

    mean: float
    se: float
    n: int
    nonfinite: int
    skewness: float
    kurtosis: float
    top_share: float


def ensemble_scalar(result, leaf=None) -> EnsembleScalar:
    """Selects one scalar of an ``EnsembleResult`` by ``leaf``, a path applied with ``[]``.

    ``leaf`` is None (the ensemble's output is one scalar), a key, or a tuple of keys and
    indices walked through the output pytree and then into the array: ``("g", 3)`` selects
    ``mean["g"][3]``; a string on a NamedTuple selects the attribute.
    """
    if any(getattr(result, f, None) is None for f in ("mean", "se", "n", "nonfinite", "skewness", "kurtosis")):
        raise TypeError(
            f"result: expected a vgtheory.EnsembleResult (from vg.ensemble, with its tail "
            f"diagnostics), got {type(result).__name__}."
        )
    path = () if leaf is None else (leaf if isinstance(leaf, tuple) else (leaf,))

    def pick(tree, name):
        x = tree
        for p in path:
            try:
                x = getattr(x, p) if isinstance(p, str) and hasattr(x, "_fields") else x[p]
            except (KeyError, IndexError, TypeError, AttributeError) as e:
                raise ValueError(
                    f"leaf: {leaf!r} does not select an element of the ensemble's output ({type(e).__name__}: {e})."
                ) from None
        import jax

        leaves = jax.tree_util.tree_leaves(x)
        if len(leaves) != 1 or np.size(leaves[0]) != 1:
            shapes = [np.shape(v) for v in leaves]
            raise ValueError(
                f"leaf: expected a path to one scalar of the ensemble's output, got {leaf!r}, "
                f"which selects {len(leaves)} leaves of shapes {shapes} in {name}; e.g. leaf=('key', 0)."
            )
        return np.asarray(leaves[0], np.float64).reshape(())

    return EnsembleScalar(
        float(pick(result.mean, "mean")),
        float(pick(result.se, "se")),
        int(result.n),
        int(pick(result.nonfinite, "nonfinite")),
        float(pick(result.skewness, "skewness")),
        float(pick(result.kurtosis, "kurtosis")),
        float(pick(result.top_share, "top_share")),
    )


def normal_quantile(p: float) -> float:
    """Inverse standard normal CDF Φ⁻¹(p), by bisection on erfc (no scipy needed)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p: expected a probability in (0, 1), got {p!r}.")
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if 0.5 * math.erfc(-mid / math.sqrt(2.0)) < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def bonferroni_k(alpha: float, m: int) -> float:
    """Two-sided z threshold so that m simultaneous checks have family-wise error ≤ alpha.

    k = Φ⁻¹(1 − α/(2m)); for α = 0.01 and m = 50, k ≈ 3.72; m = 500 gives 4.26.
    """
    check_int("m", m, what="the number of comparisons")
    if not 0.0 < alpha < 1.0:  # also rejects NaN
        raise ValueError(f"alpha: expected a family-wise error rate in (0, 1), got {alpha!r}.")
    return normal_quantile(1.0 - alpha / (2.0 * m))


def to_float(x) -> float:
    """Python float of a scalar array (NaN stays NaN)."""
    return float(np.asarray(x, dtype=np.float64).reshape(()))
