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
            f"samples: need at least 2 draws along axis {axis} to estimate a standard "
            f"error, got shape {samples.shape}."
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
        raise ValueError(f"num, den: expected paired samples of equal shape with at least 2 draws, "
                         f"got {num.shape} and {den.shape}.")
    a, b = estimate(num), estimate(den)
    mean = concrete(b.mean)  # traced samples (inside the caller's jit) are not checked
    zero = np.zeros((), bool) if mean is None else mean == 0
    if zero.any():
        raise ValueError(f"den: the sample mean of den is 0 ({int(zero.sum())} of {zero.size} entries): "
                         f"E[num]/E[den] is undefined; expected a non-zero mean.")
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
