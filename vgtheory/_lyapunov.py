"""Lyapunov spectra of any step function h_{t+1} = F(h_t, x_t; θ) by the QR (Benettin) method.

A frame Q_t (N×k, orthonormal columns) is pushed through the tangent map of F with
autodiff: ``vmap`` of the step's linearisation over the k columns, which XLA turns into
matmuls (J_t Q for a dense cell), never a hand-derived Jacobian. Every ``reortho`` steps
the propagated frame Y = J_{t+r}⋯J_{t+1} Q_t is factorised Y = Q_{t+r} R with diag R > 0,
and log R_ii is accumulated; λ_i = (1/M) Σ log R_ii over the M measured steps. The state
may be any pytree (a Flax LSTM carry ``(c, h)``): the frame lives in the flat space of all
its leaves (``jax.flatten_util.ravel_pytree``), N entries in all.

Speed without losing the bottom of the spectrum (PERF.md, W3):

* Between factorisations each column is rescaled to unit norm after every step and its
  log-norm accumulated (O(Nk), exact: scaling columns by D gives R ↦ R D, diag R ↦ diag R·D),
  so nothing overflows whatever the exponents.
* The factorisation is CholeskyQR in the accumulation dtype (float64 when x64 is enabled):
  G = YᵀY, G = LLᵀ, Q = Y L⁻ᵀ, log R_ii = log L_ii — matmuls, a Cholesky and a triangular
  solve instead of Householder QR on every step.
* CholeskyQR resolves a column only while its angle to the span of the earlier columns is
  above ~√ε of the Gram's dtype: the angle deficit a_j = log‖y_j‖ − log R_jj must stay
  under :func:`spread_budget` (log 10³ without x64). Single steps of gated cells (LSTM,
  GRU: a_j of 7–15 nats) and products of Gaussian matrices (a few % of steps) exceed it.
  The default ``method="auto"`` therefore checks every factorisation (a non-finite or
  not positive definite Gram, or max_j a_j over the budget) and redoes that one with
  Householder QR (``jnp.linalg.qr``, backward stable whatever the conditioning) under a
  ``lax.cond``; under ``vmap`` the branch is taken once for the batch when any member
  needs it (a batch-level predicate), so safe batches keep CholeskyQR's speed.
  ``householder_count`` reports how many factorisations ran Householder.
* What limits the interval r is the frame's conditioning: after r steps column j carries
  a component e^{r(λ₁−λ_j)} times larger along the leading directions, and the state dtype
  resolves the part orthogonal to them only to ε·e^{r(λ₁−λ_j)} relative. Keeping the
  spread r(λ₁−λ_k) under a dtype budget (log 10⁴ for float32) keeps the whole spectrum
  accurate; :func:`reortho_for_spread` picks r from a spread estimate, and every result
  reports the largest spread seen (``log_cond``, a lower bound on log cond(Y)) and flags it
  in ``status`` when it exceeded the budget at ``reortho > 1``.
* Rounding floor: the tangent J_t q is computed with an error up to γ_N‖J_t‖ ≈ N·ε·‖J_t‖
  (an N-term inner product, Higham 2002, Thm 3.5), so a direction stretched by less than
  that per step is not resolved: its "exponent" is the rounding noise (an LSTM at its
  fixed point: −19.5 in float32, −39.5 in float64, for exactly contracted directions).
  Every result carries ``floor`` = mean_t log(N·ε·‖J_t‖) (‖J_t‖ estimated by the largest
  column norm of J_t Q_t, a lower bound) and ``resolved`` = λ_i > floor.

References:
  Benettin, Galgani, Giorgilli & Strelcyn (1980), Meccanica 15, 9–30 (the QR method).
  Fukaya, Nakatsukasa, Yanagisawa & Yamamoto (2014), "CholeskyQR2", ScalA '14.
  Higham (2002), "Accuracy and Stability of Numerical Algorithms", 2nd ed., §3.1, §19.
  Murray (2016), "Differentiation of the Cholesky decomposition", arXiv:1602.07527.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap
from jaxtyping import Array, Bool, Float, Int

from ._cache import cached
from ._checks import check_float_dtype, check_int, check_precision, ScopedPrecision, check_scalar
from ._recurrence import flat_recurrence
from ._numerics import HIGHEST as _HI
from ._numerics import acc_dtype

METHODS = ("auto", "cholesky", "householder")

#: status codes of :class:`LyapunovResult`.
OK, ILL_CONDITIONED, NONFINITE, CHOLESKY_UNSAFE = 0, 1, 2, 3
#: largest fraction of factorisations at the rounding floor for a resolved exponent.
AT_FLOOR_MAX = 0.01

#: what each status means and what to do (every advice can be followed where it is given).
STATUS_TEXT = {
    OK: "ok",
    ILL_CONDITIONED: "the spread between two factorisations exceeded the dtype budget "
    "(set only when reortho > 1): use a smaller reortho "
    "(reortho_for_spread), reortho=1 always being allowed",
    NONFINITE: "an exponent is not finite: NaN/+inf means the step's Jacobian went "
    "non-finite along the trajectory (a diverging nonlinear state; see "
    "state_finite), −inf an exactly zero direction of the tangent map",
    CHOLESKY_UNSAFE: "method='cholesky' broke down or exceeded its conditioning budget "
    "in some factorisation: use method='auto' (the default) or "
    "'householder'",
}


class LyapunovResult(NamedTuple):
    """Lyapunov exponents per step (natural log), in Gram–Schmidt order (≈ descending).

    Attributes:
      exponents: ``[k]`` λ_i = (1/M) Σ_t log R_ii(t) over the M measured steps.
      se: ``[k]`` block standard error (std of the block exponents / √blocks; NaN if
        fewer than two blocks).
      running: ``[blocks, k]`` running estimate at the end of each block.
      finite_time: ``[blocks, k]`` finite-time exponents over each block.
      log_cond: ``[]`` largest max(spread, angle deficit) of one factorisation: spread
        max_i log R_ii − min_i log R_ii of the interval, angle deficit
        max_j log‖y_j‖ − log R_jj (each a lower bound on log cond of the propagated frame).
      status: ``[]`` int32, see :data:`STATUS_TEXT`: 0 ok; 1 the spread exceeded the dtype
        budget at ``reortho > 1`` (use a smaller ``reortho``); 2 an exponent is not finite
        (the tangent map went non-finite, or an exactly zero direction gives −inf);
        3 ``method="cholesky"`` broke down or ran past its budget (use ``"auto"``).
      state: final state, structured like ``h0``.
      frame: ``[N, k]`` final orthonormal frame (in the flat state space).
      resolved: ``[k]`` bool: λ_i finite, above ``floor``, and at the floor in at most
        1 % of the factorisations (``at_floor``); False marks an exponent made of rounding
        noise, wholly or in part (not a measurement of the dynamics).
      floor: ``[]`` per-step rounding floor mean_t log(N·ε·‖J_t‖) of the state dtype.
      at_floor: ``[k]`` fraction of the measured factorisations in which log R_ii was at
        or below that interval's floor Σ_t log(N·ε·‖J_t‖). A direction contracted exactly
        (an LSTM at its fixed point) sits there from some step on; a genuine direction
        almost never (a Gaussian factor's last R_ii falls below N·ε·‖J‖ with probability
        ~N^{3/2}ε per step).
      state_finite: ``[]`` bool, every entry of the final state is finite. A linear step
        whose state overflows still has right exponents (status 0, state_finite False).
      householder_count: ``[]`` int32, factorisations (warm-up included) done by
        Householder QR: 0 for ``"cholesky"``, all for ``"householder"``, the fall-backs
        for ``"auto"``.
    """

    exponents: Float[Array, "... k"]
    se: Float[Array, "... k"]
    running: Float[Array, "... blocks k"]
    finite_time: Float[Array, "... blocks k"]
    log_cond: Float[Array, "..."]
    status: Int[Array, "..."]
    state: Any
    frame: Float[Array, "... n k"]
    resolved: Bool[Array, "... k"]
    floor: Float[Array, "..."]
    at_floor: Float[Array, "... k"]
    state_finite: Bool[Array, "..."]
    householder_count: Int[Array, "..."]


def spread_budget(dtype, method: str = "auto") -> float:
    """Largest safe spread r·(λ₁ − λ_k) between two factorisations, in nats.

    float32 state: log 10⁵ (measured: full-spectrum error ≈ 1e-4 against float64 at a
    spread of log 10^4.5 on tanh RNNs; the weakest column's residual is resolved to
    ε·e^{spread} relative, whose first-order part averages out over chunks). float64 state: log 10⁶
    for CholeskyQR (the Gram squares the condition number), log 10¹⁰ for Householder.
    Without x64 the Gram is float32 and the CholeskyQR budget drops to log 10³.
    ``"auto"``: the CholeskyQR budget (the interval over which its fast path stays
    safe; past it ``auto`` falls back to Householder, and the spread flagged in
    ``status`` is the larger of the two budgets).

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


def reortho_for_spread(
    spread_per_step: float, dtype=jnp.float32, method: str = "auto", safety: float = 0.75, max_interval: int = 64
) -> int:
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


@jax.custom_jvp
def _cholesky(g):
    return jnp.linalg.cholesky(g)


@_cholesky.defjvp
def _cholesky_jvp(primals, tangents):
    """dL = L Φ(L⁻¹ dG L⁻ᵀ), Φ the lower triangle with halved diagonal (Murray 2016, eq. 9),
    and dL = 0 where the factorisation broke down (NaN L): the ``auto`` fall-back discards
    that L, and the zero keeps its NaN out of the gradient (0·NaN in a where's transpose)."""
    (g,), (dg,) = primals, tangents
    low = jnp.linalg.cholesky(g)
    ok = jnp.all(jnp.isfinite(low))
    ls = jnp.where(ok, low, jnp.eye(g.shape[-1], dtype=g.dtype))
    x = jax.scipy.linalg.solve_triangular(ls, dg, lower=True)
    x = jax.scipy.linalg.solve_triangular(ls, x.T, lower=True)  # L⁻¹ dG L⁻ᵀ (dG symmetric)
    phi = jnp.tril(x) - 0.5 * jnp.diag(jnp.diagonal(x))
    return low, jnp.where(ok, jnp.matmul(ls, phi, precision=_HI), 0.0)


def _cholesky_qr(y, acc):
    """CholeskyQR in ``acc``. Returns (q, log R_ii, angle deficits, factorisation finite);
    a broken-down factorisation gives q = y (finite, to be discarded)."""
    ya = y.astype(acc)
    g = jnp.matmul(ya.T, ya, precision=_HI)
    low = _cholesky(g)
    ok = jnp.all(jnp.isfinite(jax.lax.stop_gradient(low)))
    low = jnp.where(ok, low, jnp.eye(g.shape[-1], dtype=acc))
    q = jax.scipy.linalg.solve_triangular(low, ya.T, lower=True).T
    logd = jnp.log(jnp.diagonal(low))
    return q.astype(y.dtype), logd, 0.5 * jnp.log(jnp.diagonal(g)) - logd, ok


def _householder_qr(y, acc):
    q, r = jnp.linalg.qr(y)
    d = jnp.diagonal(r)
    q = q * jnp.where(d < 0, -1.0, 1.0).astype(y.dtype)[..., None, :]  # sign fix: diag R > 0 (columns)
    logd = jnp.log(jnp.abs(d)).astype(acc)
    return q, logd, jnp.log(jnp.linalg.norm(y, axis=0)).astype(acc) - logd


@custom_vmap
def _any_in_batch(flag):
    """``flag`` itself; under ``vmap``, one unbatched "any member" so that a ``lax.cond`` on
    it stays a branch (a batched predicate would turn it into a select running both)."""
    return flag


@_any_in_batch.def_vmap
def _any_in_batch_vmap(axis_size, in_batched, flag):
    return jnp.any(flag), False


def _factorise(method, chol_budget, y, acc):
    """QR of the propagated frame. Returns (q, log R_ii, angle deficits, CholeskyQR broke
    down on a finite frame with ``method="cholesky"``, Householder used), the last two as
    int32 0/1."""
    if method == "householder":
        q, logd, defi = _householder_qr(y, acc)
        return q, logd, defi, jnp.int32(0), jnp.int32(1)
    q, logd, defi, ok = _cholesky_qr(y, acc)
    bad = ~(ok & jnp.all(jnp.isfinite(q)) & jnp.all(jnp.isfinite(logd)) & (jnp.max(defi) <= chol_budget))
    broke = (bad & jnp.all(jnp.isfinite(y))).astype(jnp.int32)
    if method == "cholesky":  # a breakdown shows as NaN, as CholeskyQR gives it
        nan = jnp.where(ok, 0.0, jnp.nan).astype(acc)
        return q + nan.astype(q.dtype), logd + nan, defi + nan, broke, jnp.int32(0)

    def householder():
        return jax.tree_util.tree_map(lambda a, b: jnp.where(bad, a, b), _householder_qr(y, acc), (q, logd, defi))

    q, logd, defi = jax.lax.cond(_any_in_batch(bad), householder, lambda: (q, logd, defi))
    return q, logd, defi, jnp.int32(0), bad.astype(jnp.int32)


def _tangent_step(step, params, h, y, x):
    h_new, lin = jax.linearize(lambda hh: step(params, hh, x), h)
    return h_new, jax.vmap(lin, in_axes=1, out_axes=1)(y)


class _Chunk(NamedTuple):
    logs: Array  # [k] log R_ii of the interval (normalisations included)
    jlog: Array  # [] Σ_t log max_j ‖J_t q_j‖ over its steps (for the rounding floor)
    log_cond: Array  # [] max(spread, angle deficit)
    at_floor: Array  # [k] int32: log R_ii at or below the interval's floor Σ_t log(N ε ‖J_t‖)


def _chunk(step, params, method, chol_budget, acc, log_neps, length, carry, xs):
    """r steps of state and frame, then one factorisation."""
    h, q, nbroke, nhh = carry

    def one(c, x):
        h, y, ls, jl = c
        h, y = _tangent_step(step, params, h, y, x)
        nrm = jnp.linalg.norm(y, axis=0)
        jl = jl + jnp.log(jnp.max(nrm)).astype(acc)
        if length > 1:  # unit columns between factorisations (exact, see module doc)
            y = y / jnp.where(nrm > 0, nrm, 1.0)[None, :]
            ls = ls + jnp.log(nrm).astype(acc)
        return (h, y, ls, jl), None

    c0 = (h, q, jnp.zeros(q.shape[1], acc), jnp.zeros((), acc))
    (h, y, ls, jl), _ = jax.lax.scan(one, c0, xs, length=length)
    q, logd, defi, broke, used = _factorise(method, chol_budget, y, acc)
    logs = ls + logd
    log_cond = jnp.maximum(jnp.max(logs) - jnp.min(logs), jnp.max(defi))
    at_floor = (~(logs > jl + length * log_neps)).astype(jnp.int32)
    return (h, q, nbroke + broke, nhh + used), _Chunk(logs, jl, log_cond, at_floor)


def _largest_divisor(n: int, at_most: int) -> int:
    return max(d for d in range(1, min(n, max(1, at_most)) + 1) if n % d == 0)


def _check(n, steps, k, warmup, reortho, blocks, method):
    warmup, reortho = check_int("warmup", warmup, 0), check_int("reortho", reortho)
    check_int("blocks", blocks)
    if steps <= warmup:
        raise ValueError(f"steps: expected more steps than warmup (T > warmup), got steps={steps}, warmup={warmup}.")
    check_int("k", k, 1, n, what="N = state size")
    if (steps - warmup) % reortho:
        raise ValueError(
            f"reortho: expected a divisor of the measured steps steps − warmup = {steps - warmup}, got {reortho}."
        )
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}.")


def _tmap(f, xs):
    return None if xs is None else jax.tree_util.tree_map(f, xs)


@cached(static=("precision",))
def lyapunov_spectrum(
    step: Callable,
    params,
    h0: Any,
    inputs: Any = None,
    *,
    steps: int,
    k: int | None = None,
    warmup: int = 0,
    reortho: int = 1,
    blocks: int = 10,
    method: str = "auto",
    frame0: Float[Array, "n k"] | None = None,
    precision: ScopedPrecision = "highest",
) -> LyapunovResult:
    """Top-k (or full) Lyapunov spectrum of h_{t+1} = step(params, h_t, x_t).

    Args:
      step: ``step(params, h, x) -> h_next`` (``x`` is ``None`` when ``inputs`` is None),
        any JAX-traceable function; ``h_next`` must have ``h``'s structure, shapes and dtype.
      params: pytree of parameters (batch over seeds with ``jax.vmap``).
      h0: initial state: an ``[N]`` vector or any pytree of arrays of one floating dtype
        (e.g. Flax's LSTM carry ``(c, h)``); its dtype is the computation dtype, and the
        exponents are those of the flat state of all its N entries.
      inputs: inputs x_t, an array ``[steps, ...]`` or a pytree whose leaves all have the
        leading axis ``steps``; None for an autonomous map.
      steps: total steps T (Python int), warm-up included.
      k: number of exponents (default N, the full spectrum).
      warmup: steps discarded before measuring (state and frame both relax).
      reortho: factorise every ``reortho`` steps; must divide ``steps − warmup``. Pick it
        with :func:`reortho_for_spread`.
      blocks: at most this many blocks for the standard error (the largest divisor of the
        number of factorisations not above it).
      method: ``"auto"`` (default: CholeskyQR in float64 on matmul units, each
        factorisation checked and redone with Householder QR where CholeskyQR breaks down
        or runs past its budget), ``"cholesky"`` (CholeskyQR only; a breakdown gives NaN
        and status 3) or ``"householder"`` (``jnp.linalg.qr`` in the state dtype, the
        classic loop).
      frame0: ``[N, k]`` initial orthonormal frame in the flat state space (default the
        first k unit vectors).
      precision: default matmul precision while tracing ``step``.

    Returns:
      :class:`LyapunovResult` (values in ``h0``'s dtype; accumulation in float64 when x64
      is enabled). Trust exponent i when ``status == 0`` and ``resolved[i]``.

    Raises:
      TypeError: ``step`` not callable; a leaf of ``h0`` not real floating.
      ValueError: bad ``h0``/``k``/``steps``/``warmup``/``reortho``/``blocks``/``method``/
        ``inputs``/``frame0``, or a ``step`` whose output structure, shape or dtype differs
        from the state's.

    Math:
      Y = J_{t+r}⋯J_{t+1} Q_t = Q_{t+r} R, λ_i = lim (1/M) Σ log R_ii; the sum of the first
      i exponents is the growth rate of i-dimensional volumes. Rounding floor
      (1/M) Σ_t log(N ε ‖J_t‖): exponents at or below it are marked unresolved.

    Example:
      >>> import jax.numpy as jnp
      >>> step = lambda p, h, x: p * h                       # diagonal linear map
      >>> r = lyapunov_spectrum(step, jnp.array([2.0, 0.5]), jnp.ones(2), steps=20)
      >>> [round(float(v), 4) for v in r.exponents], r.resolved.tolist()
      ([0.6931, -0.6931], [True, True])
    """
    precision = check_precision(precision, scoped=True)
    rec = flat_recurrence(step, params, h0, inputs, steps)
    n, fstep = rec.n, rec.step
    k = n if k is None else k
    _check(n, steps, k, warmup, reortho, blocks, method)
    dtype = rec.h0.dtype
    acc = acc_dtype()
    chol_budget = spread_budget(dtype, "cholesky")
    budget = spread_budget(dtype, method)
    if method == "auto":  # accuracy past CholeskyQR's budget is Householder's
        budget = max(budget, spread_budget(dtype, "householder"))
    m = steps - warmup
    n_chunks = m // reortho
    nb = _largest_divisor(n_chunks, blocks)
    cpb = n_chunks // nb
    q0 = jnp.eye(n, k, dtype=dtype) if frame0 is None else jnp.asarray(frame0, dtype)
    if q0.shape != (n, k):
        raise ValueError(f"frame0: expected shape {(n, k)}, got {q0.shape}.")
    xs = _tmap(jnp.asarray, inputs)
    log_neps = math.log(n * float(jnp.finfo(dtype).eps))
    chunk = lambda c, x, length: _chunk(fstep, params, method, chol_budget, acc, log_neps, length, c, x)  # noqa: E731
    with jax.default_matmul_precision(precision):
        carry = (rec.h0, q0, jnp.int32(0), jnp.int32(0))
        # warm-up: whole chunks, then the remainder as one shorter chunk
        nw, rw = divmod(warmup, reortho)
        xw = _tmap(lambda a: a[:warmup], xs)
        if nw:
            xc = _tmap(lambda a: a[: nw * reortho].reshape(nw, reortho, *a.shape[1:]), xw)
            carry, _ = jax.lax.scan(lambda c, x: (chunk(c, x, reortho)[0], None), carry, xc, length=nw)
        if rw:
            carry, _ = chunk(carry, _tmap(lambda a: a[nw * reortho :], xw), rw)
        xm = _tmap(lambda a: a[warmup:].reshape(nb, cpb, reortho, *a.shape[1:]), xs)

        def bbody(c, x):
            c, ch = jax.lax.scan(lambda c, x: chunk(c, x, reortho), c, x, length=cpb)
            return c, _Chunk(
                jnp.sum(ch.logs, axis=0), jnp.sum(ch.jlog), jnp.max(ch.log_cond), jnp.sum(ch.at_floor, axis=0)
            )

        (h, q, nbroke, nhh), blk = jax.lax.scan(bbody, carry, xm, length=nb)
    block_logs = blk.logs
    block_len = cpb * reortho
    finite_time = block_logs / block_len
    exps = jnp.sum(block_logs, axis=0) / m
    running = jnp.cumsum(block_logs, axis=0) / (block_len * jnp.arange(1, nb + 1, dtype=acc))[:, None]
    if nb > 1:
        se = jnp.std(finite_time, axis=0, ddof=1) / math.sqrt(nb)
    else:
        se = jnp.full((k,), jnp.nan, acc)
    log_cond = jnp.max(blk.log_cond)
    floor = jnp.sum(blk.jlog) / m + log_neps
    at_floor = jnp.sum(blk.at_floor, axis=0) / n_chunks
    resolved = jnp.isfinite(exps) & (exps > floor) & (at_floor <= AT_FLOOR_MAX)
    exp_finite = jnp.all(jnp.isfinite(block_logs))
    spread_bad = (log_cond > budget) if reortho > 1 else jnp.bool_(False)
    status = jnp.where(
        nbroke > 0, CHOLESKY_UNSAFE, jnp.where(~exp_finite, NONFINITE, jnp.where(spread_bad, ILL_CONDITIONED, OK))
    ).astype(jnp.int32)
    c = lambda a: a.astype(dtype)  # noqa: E731
    return LyapunovResult(
        c(exps),
        c(se),
        c(running),
        c(finite_time),
        c(log_cond),
        status,
        rec.unravel(h),
        q,
        resolved,
        c(floor),
        c(at_floor),
        jnp.all(jnp.isfinite(h)),
        nhh,
    )


def log_volume_growth(result: LyapunovResult) -> Float[Array, "... k"]:
    """Cumulative sums Σ_{j≤i} λ_j: growth rates of i-dimensional volumes (i = k: log|det|).

    Raises:
      TypeError: ``result`` is not a :class:`LyapunovResult`.
    """
    if not isinstance(result, LyapunovResult):
        raise TypeError(f"result: expected a LyapunovResult (from lyapunov_spectrum), got {type(result).__name__}.")
    return jnp.cumsum(result.exponents, axis=-1)
