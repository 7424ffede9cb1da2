"""Small helpers shared by the built-in claim modules."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .._stats import Estimate, estimate


def unit_vector(key, n, dtype=jnp.float32):
    """A uniformly random direction in R^n (a cotangent independent of the network)."""
    v = jax.random.normal(key, (n,), dtype)
    return v / jnp.linalg.norm(v)


def log_of_mean(samples) -> Estimate:
    """log E[x] with a delta-method SE, from positive samples (``se/mean``).

    The delta-method bias of log(sample mean) is −Var(x)/(2 n E[x]²); claims that use this
    state it as part of their bias allowance (:func:`log_mean_bias`).
    """
    e = estimate(np.asarray(samples, np.float64))
    return Estimate(np.log(e.mean), e.se / e.mean, e.n)


def log_mean_bias(samples) -> float:
    """|bias| of log(sample mean): Var(x)/(2 n mean²), estimated from the samples."""
    x = np.asarray(samples, np.float64)
    return float(np.var(x, ddof=1) / (2 * x.size * np.mean(x) ** 2))


def member_keys(key, n):
    return jax.random.split(key, n)


def scalar(x) -> float:
    return float(np.asarray(x, np.float64))


def log(x) -> float:
    return math.log(float(x))
