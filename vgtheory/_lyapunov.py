"""Lyapunov spectra of any step function h_{t+1} = F(h_t, x_t; θ) by the QR (Benettin) method.

A frame Q_t (N×k, orthonormal columns) is pushed through the tangent map of F with
autodiff: ``vmap`` of the step's linearisation over the k columns, which XLA turns into
matmuls (J_t Q for a dense cell), never a hand-derived Jacobian. Every ``reortho`` steps
the propagated frame Y = J_{t+r}⋯J_{t+1} Q_t is factorised Y = Q_{t+r} R with diag R > 0,
and log R_ii is accumulated; λ_i = (1/M) Σ log R_ii over the M measured steps.

Speed without losing the bottom of the spectrum (PERF.md, W3):

* Between factorisations each column is rescaled to unit norm after every step and its
  log-norm accumulated (O(Nk), exact: scaling columns by D gives R ↦ R D, diag R ↦ diag R·D),
  so nothing overflows whatever the exponents.
* The factorisation is CholeskyQR in the accumulation dtype (float64 when x64 is enabled):
  G = YᵀY, G = LLᵀ, Q = Y L⁻ᵀ, log R_ii = log L_ii — matmuls, a Cholesky and a triangular
  solve instead of Householder QR on every step.
* What limits the interval r is the frame's conditioning: after r steps column j carries
  a component e^{r(λ₁−λ_j)} times larger along the leading directions, and the state dtype
  resolves the part orthogonal to them only to ε·e^{r(λ₁−λ_j)} relative. Keeping the
  spread r(λ₁−λ_k) under a dtype budget (log 10⁴ for float32) keeps the whole spectrum
  accurate; :func:`reortho_for_spread` picks r from a spread estimate, and every result
  reports the largest spread seen (``log_cond``, a lower bound on log cond(Y)) and flags it
  in ``status`` when it exceeded the budget.

References:
  Benettin, Galgani, Giorgilli & Strelcyn (1980), Meccanica 15, 9–30 (the QR method).
  Fukaya, Nakatsukasa, Yanagisawa & Yamamoto (2014), "CholeskyQR2", ScalA '14.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from ._checks import check_float_dtype, check_int, check_recurrence, check_scalar

_HI = jax.lax.Precision.HIGHEST
METHODS = ("cholesky", "householder")

#: status codes of :class:`LyapunovResult`.
OK, ILL_CONDITIONED, NONFINITE = 0, 1, 2


class LyapunovResult(NamedTuple):
    """Lyapunov exponents per step (natural log), in Gram–Schmidt order (≈ descending).

    Attributes:
      exponents: ``[k]`` λ_i = (1/M) Σ_t log R_ii(t) over the M measured steps.
      se: ``[k]`` block standard error (std of the block exponents / √blocks; NaN if
        fewer than two blocks).
      running: ``[blocks, k]`` running estimate at the end of each block.
      finite_time: ``[blocks, k]`` finite-time exponents over each block.
      log_cond: ``[]`` largest spread max_i log R_ii − min_i log R_ii of one factorisation
        (a lower bound on log cond of the propagated frame).
      status: ``[]`` int32: 0 ok; 1 the spread exceeded the dtype budget (use a smaller
        ``reortho``); 2 non-finite (diverging trajectory or factorisation breakdown).
      state: ``[N]`` final state.
      frame: ``[N, k]`` final orthonormal frame.
    """

    exponents: Float[Array, "... k"]
    se: Float[Array, "... k"]
    running: Float[Array, "... blocks k"]
    finite_time: Float[Array, "... blocks k"]
    log_cond: Float[Array, "..."]
    status: Int[Array, "..."]
    state: Float[Array, "... n"]
    frame: Float[Array, "... n k"]


def acc_dtype():
    """float64 when x64 is enabled, else float32 (the log-factor accumulation dtype)."""
    return jax.dtypes.canonicalize_dtype(jnp.float64)


def spread_budget(dtype, method: str = "cholesky") -> float:
    """Largest safe spread r·(λ₁ − λ_k) between two factorisations, in nats.

    float32 state: log 10⁵ (measured: full-spectrum error ≈ 1e-4 against float64 at a
    spread of log 10^4.5 on tanh RNNs; the weakest column's residual is resolved to
    ε·e^{spread} relative, whose first-order part averages out over chunks). float64 state: log 10⁶
    for CholeskyQR (the Gram squares the condition number), log 10¹⁰ for Householder.
    Without x64 the Gram is float32 and the CholeskyQR budget drops to log 10³.

    Raises:
      ValueError: unknown ``method``. TypeError: ``dtype`` not a floating dtype.
    """
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}.")
    dt = check_float_dtype("dtype", dtype)
    f64 = dt == jnp.float64
    if method == "householder":
        return math.log(1e10 if f64 else 1e4)
    if acc_dtype() != jnp.float64:
        return math.log(1e3)
    return math.log(1e6 if f64 else 1e5)


def reortho_for_spread(spread_per_step: float, dtype=jnp.float32, method: str = "cholesky",
                       safety: float = 0.75, max_interval: int = 64) -> int:
    """Re-orthonormalisation interval r with r·spread ≤ safety·budget (a Python int).

    Args:
      spread_per_step: λ₁ − λ_k estimated from a short pilot (e.g. ``reortho=1``).
      dtype: state dtype.
      method: factorisation method.
      safety: fraction of :func:`spread_budget` to use, in (0, 1).
      max_interval: cap on r (int ≥ 1).

    Raises:
      ValueError: negative or non-finite ``spread_per_step``, ``safety`` outside (0, 1),
        ``max_interval`` not an int ≥ 1, unknown ``method``. TypeError: non-floating ``dtype``.

    Example:
      >>> import jax.numpy as jnp
      >>> reortho_for_spread(1.0, jnp.float32, "householder")   # 0.75·log(1e4)/1
      6
    """
    check_scalar("spread_per_step", spread_per_step, nonneg=True)
    s = float(spread_per_step)
    check_scalar("safety", safety, positive=True)
    if not float(safety) < 1:
        raise ValueError(f"safety: expected a fraction of the budget in (0, 1), got {float(safety)}.")
    check_int("max_interval", max_interval)
    budget = safety * spread_budget(dtype, method)
    return int(max(1, min(max_interval, math.floor(budget / max(s, 1e-12)))))


def _cholesky_qr(y, acc):
    ya = y.astype(acc)
    g = jnp.matmul(ya.T, ya, precision=_HI)
    low = jnp.linalg.cholesky(g)
    q = jax.scipy.linalg.solve_triangular(low, ya.T, lower=True).T
    return q.astype(y.dtype), jnp.log(jnp.diagonal(low))


def _householder_qr(y, acc):
    q, r = jnp.linalg.qr(y)
    d = jnp.diagonal(r)
    q = q * jnp.where(d < 0, -1.0, 1.0).astype(y.dtype)  # sign fix: diag R > 0
    return q, jnp.log(jnp.abs(d)).astype(acc)


def _tangent_step(step, params, h, y, x):
    h_new, lin = jax.linearize(lambda hh: step(params, hh, x), h)
    return h_new, jax.vmap(lin, in_axes=1, out_axes=1)(y)


def _chunk(step, params, method, acc, length, carry, xs):
    """r steps of state and frame, then one factorisation. Returns log R_ii (acc dtype)."""
    h, q = carry

    def one(c, x):
        h, y, ls = c
        h, y = _tangent_step(step, params, h, y, x)
        if length > 1:  # unit columns between factorisations (exact, see module doc)
            nrm = jnp.linalg.norm(y, axis=0)
            y = y / jnp.where(nrm > 0, nrm, 1.0)
            ls = ls + jnp.log(nrm).astype(acc)
        return (h, y, ls), None

    ls0 = jnp.zeros(q.shape[1], acc)
    (h, y, ls), _ = jax.lax.scan(one, (h, q, ls0), xs, length=length)
    qr = _cholesky_qr if method == "cholesky" else _householder_qr
    q, logd = qr(y, acc)
    logs = ls + logd
    return (h, q), logs


def _largest_divisor(n: int, at_most: int) -> int:
    return max(d for d in range(1, min(n, max(1, at_most)) + 1) if n % d == 0)


def _check(step, params, h0, inputs, steps, k, warmup, reortho, blocks, method):
    n = check_recurrence(step, params, h0, inputs, steps)
    warmup, reortho = check_int("warmup", warmup, 0), check_int("reortho", reortho)
    check_int("blocks", blocks)
    if steps <= warmup:
        raise ValueError(f"steps: expected more steps than warmup (T > warmup), got "
                         f"steps={steps}, warmup={warmup}.")
    check_int("k", k, 1, n, what="N = state size")
    if (steps - warmup) % reortho:
        raise ValueError(f"reortho: expected a divisor of the measured steps "
                         f"steps − warmup = {steps - warmup}, got {reortho}.")
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}.")


def lyapunov_spectrum(
    step: Callable,
    params,
    h0: Float[Array, " n"],
    inputs: Float[Array, "T ..."] | None = None,
    *,
    steps: int,
    k: int | None = None,
    warmup: int = 0,
    reortho: int = 1,
    blocks: int = 10,
    method: str = "cholesky",
    frame0: Float[Array, "n k"] | None = None,
    precision: str = "highest",
) -> LyapunovResult:
    """Top-k (or full) Lyapunov spectrum of h_{t+1} = step(params, h_t, x_t).

    Args:
      step: ``step(params, h, x) -> h_next`` (``x`` is ``None`` when ``inputs`` is None),
        any JAX-traceable function; ``h_next`` must have ``h``'s shape and dtype.
      params: pytree of parameters (batch over seeds with ``jax.vmap``).
      h0: ``[N]`` initial state (its dtype is the computation dtype).
      inputs: ``[steps, ...]`` inputs x_t, or None for an autonomous map.
      steps: total steps T (Python int), warm-up included.
      k: number of exponents (default N, the full spectrum).
      warmup: steps discarded before measuring (state and frame both relax).
      reortho: factorise every ``reortho`` steps; must divide ``steps − warmup``. Pick it
        with :func:`reortho_for_spread`.
      blocks: at most this many blocks for the standard error (the largest divisor of the
        number of factorisations not above it).
      method: ``"cholesky"`` (CholeskyQR in float64 on matmul units) or ``"householder"``
        (``jnp.linalg.qr`` in the state dtype, the classic loop).
      frame0: ``[N, k]`` initial orthonormal frame (default the first k unit vectors).
      precision: default matmul precision while tracing ``step``.

    Returns:
      :class:`LyapunovResult` (values in ``h0``'s dtype; accumulation in float64 when x64
      is enabled).

    Raises:
      ValueError: bad ``h0``/``k``/``steps``/``warmup``/``reortho``/``blocks``/``method``/
        ``inputs``, or a ``step`` whose output shape or dtype differs from the state's.

    Math:
      Y = J_{t+r}⋯J_{t+1} Q_t = Q_{t+r} R, λ_i = lim (1/M) Σ log R_ii; the sum of the first
      i exponents is the growth rate of i-dimensional volumes.

    Example:
      >>> import jax.numpy as jnp
      >>> step = lambda p, h, x: p * h                       # diagonal linear map
      >>> r = lyapunov_spectrum(step, jnp.array([2.0, 0.5]), jnp.ones(2), steps=20)
      >>> [round(float(v), 4) for v in r.exponents]
      [0.6931, -0.6931]
    """
    n = jnp.shape(h0)[0] if jnp.ndim(h0) == 1 else -1
    k = n if k is None else k
    _check(step, params, h0, inputs, steps, k, warmup, reortho, blocks, method)
    dtype = jnp.result_type(h0)
    acc = acc_dtype()
    budget = spread_budget(dtype, method)
    m = steps - warmup
    n_chunks = m // reortho
    nb = _largest_divisor(n_chunks, blocks)
    cpb = n_chunks // nb
    q0 = jnp.eye(n, k, dtype=dtype) if frame0 is None else jnp.asarray(frame0, dtype)
    if q0.shape != (n, k):
        raise ValueError(f"frame0: expected shape {(n, k)}, got {q0.shape}.")
    xs = None if inputs is None else jnp.asarray(inputs)
    with jax.default_matmul_precision(precision):
        carry = (jnp.asarray(h0), q0)
        # warm-up: whole chunks, then the remainder as one shorter chunk
        nw, rw = divmod(warmup, reortho)
        xw = None if xs is None else xs[:warmup]
        if nw:
            xc = None if xw is None else xw[: nw * reortho].reshape(nw, reortho, *xs.shape[1:])

            def wbody(c, x):
                c, _ = _chunk(step, params, method, acc, reortho, c, x)
                return c, None

            carry, _ = jax.lax.scan(wbody, carry, xc, length=nw)
        if rw:
            carry, _ = _chunk(step, params, method, acc, rw, carry,
                              None if xw is None else xw[nw * reortho:])
        xm = None if xs is None else xs[warmup:].reshape(nb, cpb, reortho, *xs.shape[1:])

        def cbody(c, x):
            c, logs = _chunk(step, params, method, acc, reortho, c, x)
            spread = jnp.max(logs) - jnp.min(logs)
            return c, (logs, spread)

        def bbody(c, x):
            c, (logs, spread) = jax.lax.scan(cbody, c, x, length=cpb)
            return c, (jnp.sum(logs, axis=0), jnp.max(spread))

        (h, q), (block_logs, spreads) = jax.lax.scan(bbody, carry, xm, length=nb)
    block_len = cpb * reortho
    finite_time = block_logs / block_len
    exps = jnp.sum(block_logs, axis=0) / m
    running = jnp.cumsum(block_logs, axis=0) / (block_len * jnp.arange(1, nb + 1, dtype=acc))[:, None]
    if nb > 1:
        se = jnp.std(finite_time, axis=0, ddof=1) / math.sqrt(nb)
    else:
        se = jnp.full((k,), jnp.nan, acc)
    log_cond = jnp.max(spreads)
    finite = jnp.all(jnp.isfinite(block_logs)) & jnp.all(jnp.isfinite(h))
    status = jnp.where(~finite, NONFINITE,
                       jnp.where(log_cond > budget, ILL_CONDITIONED, OK)).astype(jnp.int32)
    c = lambda a: a.astype(dtype)  # noqa: E731
    return LyapunovResult(c(exps), c(se), c(running), c(finite_time), c(log_cond), status, h, q)


def log_volume_growth(result: LyapunovResult) -> Float[Array, "... k"]:
    """Cumulative sums Σ_{j≤i} λ_j: growth rates of i-dimensional volumes (i = k: log|det|).

    Raises:
      TypeError: ``result`` is not a :class:`LyapunovResult`.
    """
    if not isinstance(result, LyapunovResult):
        raise TypeError(f"result: expected a LyapunovResult (from lyapunov_spectrum), got "
                        f"{type(result).__name__}.")
    return jnp.cumsum(result.exponents, axis=-1)
