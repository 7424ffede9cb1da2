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
    return Estimate(jnp.asarray(np.log(e.mean)), e.se / e.mean, e.n)


def log_mean_bias(samples) -> float:
    """|bias| of log(sample mean): Var(x)/(2 n mean²), estimated from the samples."""
    x = np.asarray(samples, np.float64)
    return float(np.var(x, ddof=1) / (2 * x.size * np.mean(x) ** 2))


def member_keys(key, n):
    return jax.random.split(key, n)


def member_samples(fn, key, m: int, full: bool, chunk_size: int | None = None):
    """``fn(key) -> pytree`` over ``m`` members through :func:`vgtheory.ensemble`, with the samples.

    Member ``i`` gets ``fold_in(key, i)``. At full settings the members run in chunks whose
    compiled working set fits the ensemble's memory budget (``chunk_size="auto"``: XLA's
    memory analysis); a whole full ensemble in one ``vmap`` needed 22–172 GB (S3, S3.xavier-tanh,
    L1) and failed on CPU. Quick settings run as one chunk (no probe compilations).

    ``chunk_size`` fixes the members per chunk instead (1: one member at a time, for a member
    whose work does not gain from batching, e.g. a long training run with while-loop solvers).

    Returns:
      The :class:`vgtheory.EnsembleResult`; ``.samples`` holds the per-member values
      (``m`` rows per leaf: a few floats per member).
    """
    from .._ensemble import ensemble

    chunk = chunk_size if chunk_size is not None else "auto" if full else None
    return ensemble(fn, key, m, chunk_size=chunk, keep_samples=True, progress=False)


def member_values(fn, key, m: int, full: bool, chunk_size: int | None = None):
    """The per-member values of :func:`member_samples`: ``fn``'s pytree with a leading ``[m]`` axis."""
    samples = member_samples(fn, key, m, full, chunk_size).samples
    assert samples is not None  # member_samples keeps them
    return samples


def scalar(x) -> float:
    return float(np.asarray(x, np.float64))


def log(x) -> float:
    return math.log(float(x))


# --- helpers of the mechanisms/architecture claims ----------------------------------
def rtol_for(dt):
    return 1e-10 if jnp.dtype(dt) == jnp.float64 else 2e-5


def as_np(x):
    return np.asarray(x, np.float64)


def rbg_key(key, salt: int = 0):
    """An RngBitGenerator ("rbg") key derived deterministically from ``key``.

    Generating large arrays from threefry keys inside ``jit`` costs ≈ 2.5 s of XLA compile
    on CPU per call site; XLA's native bit generator compiles in ≈ 0.1 s. Member keys are
    still split from the claim's key with threefry (outside, small), so draws stay
    independent and reproducible from the seed.
    """
    kd = jax.random.key_data(key).ravel().astype(jnp.uint32)
    mix = jnp.asarray([0x9E3779B9, 0x85EBCA6B], jnp.uint32) + jnp.uint32(salt)
    return jax.random.wrap_key_data(jnp.concatenate([kd, kd ^ mix]), impl="rbg")


def mlp_and_inputs(key, n, L, sigma_w2, extra):
    """A bias-free stacked MLP (W entries N(0, σ_w²/n)) and ``extra`` Gaussian [n]-rows, from
    one ``jax.random.normal`` call (what ``init_mlp(init="gaussian", sigma_b2=0)`` draws)."""
    from .._mlp import MLP

    z = jax.random.normal(rbg_key(key), (L * n * n + extra * n,))
    w = math.sqrt(sigma_w2 / n) * z[: L * n * n].reshape(L, n, n)
    return MLP(w, jnp.zeros((L, n), w.dtype)), z[L * n * n :].reshape(extra, n)
