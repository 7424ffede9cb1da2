"""Mean-field signal propagation for any activation: closed forms where they exist, else
Gauss–Hermite quadrature, with the fixed point found by bracketing (never by a fixed number
of iterations), divergence reported as ``+inf`` and a phase label.

For a wide fully connected network with W_ij ~ N(0, σ_w²/n) and b_i ~ N(0, σ_b²),

    q^l = F(q^{l−1}) = σ_w² E_z[φ(√q^{l−1} z)²] + σ_b²          (length map)
    χ₁  = σ_w² E_z[φ'(√q* z)²]                                   (gradient ratio per layer)
    c^l = (σ_w² E[φ(u₁)φ(u₂)] + σ_b²)/q*,  (u₁,u₂) ~ N(0, q*[[1,c],[c,1]])   (correlation map)

χ₁ < 1 is the ordered phase (gradients vanish), χ₁ > 1 chaos (they explode); the depth
scales are ξ_q = −1/log χ_q with χ_q = F'(q*) = σ_w² E[φ'² + φφ''] (Gaussian integration by
parts) and ξ_c = −1/log χ_c with χ_c = σ_w² E[φ'(u₁)φ'(u₂)] at c*. A depth scale is ``+inf``
where it diverges (χ = 1, or a power-law approach) and negative where the quantity grows
(χ > 1: |ξ| is the e-folding depth of the growth).

Piecewise-linear family (linear, ReLU, leaky ReLU/PReLU with negative slope α) in closed form:
E[φ(√q z)²] = q(1 + α²)/2, so F(q) = s q + σ_b² with s = χ₁ = σ_w²(1 + α²)/2 at every q;
q* = σ_b²/(1 − s) for s < 1 and +inf for s ≥ 1 with σ_b² > 0 (the net explodes); and the
arc-cosine kernel (Cho & Saul 2009) E[φ(u₁)φ(u₂)] = q[(1 − α)²(√(1 − c²) + (π − θ)c)/(2π) + αc],
θ = arccos c, whose only attracting fixed point is c* = 1.

References:
  Poole, Lahiri, Raghu, Sohl-Dickstein & Ganguli (2016), "Exponential expressivity in deep
  neural networks through transient chaos", eqs. (3)–(5).
  Schoenholz, Gilmer, Ganguli & Sohl-Dickstein (2017), "Deep information propagation",
  eqs. (5), (7), (9).
  Cho & Saul (2009), "Kernel methods for deep learning", eq. (6) (arc-cosine kernel, n = 1).
"""

from __future__ import annotations

import functools
import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._activations import Activation, as_activation
from .._checks import check_int, concrete
from .._numerics import float_dtype

_N_QUAD = 200  # relative error ~2e-8 for tanh² at q = 4 (poles at ±iπ/4 limit the rate)
_OCTAVES = 100  # the fixed-point search scans q0·2^{±k}, k ≤ 100, before calling q* 0 or +inf
_Q_LIMIT = 60  # q* = 0 / +inf: χ's are evaluated at q0·2^{∓60}, deep in the limiting regime
PHASES = ("ordered", "critical", "chaotic", "exploding")
"""``MeanField.phase`` codes 0..3 (−1: undetermined, e.g. a NaN input)."""


def _nodes(n: int = _N_QUAD):
    x, w = np.polynomial.hermite_e.hermegauss(n)  # weight e^{−x²/2}
    return x, w / np.sqrt(2.0 * np.pi)


def gauss_expectation(f: Callable, q, n: int = _N_QUAD):
    """E_{z~N(0,1)}[f(√q z)] by n-point Gauss–Hermite quadrature (traced ``q``, any batch shape).

    Example:
      >>> import jax.numpy as jnp
      >>> round(float(gauss_expectation(lambda h: h**2, 2.0)), 6)
      2.0
    """
    x, w = _nodes(n)
    q = jnp.asarray(q, dtype=float_dtype(q, weak_as_default=True))
    dt = q.dtype
    nodes = jnp.expand_dims(jnp.asarray(x, dt), tuple(range(q.ndim)))  # [1, ..., 1, n]
    weights = jnp.expand_dims(jnp.asarray(w, dt), tuple(range(q.ndim)))
    z = jnp.sqrt(q)[..., None] * nodes
    return jnp.sum(weights * f(z), axis=-1)


def _bivariate(f: Callable, q, c, n: int = 48):
    """E[f(u₁, u₂)] with (u₁, u₂) ~ N(0, q[[1, c], [c, 1]])."""
    x, w = _nodes(n)
    dt = jnp.result_type(q, c)
    x, w = jnp.asarray(x, dt), jnp.asarray(w, dt)
    z1, z2 = x[:, None], x[None, :]
    u1 = jnp.sqrt(q) * z1
    u2 = jnp.sqrt(q) * (c * z1 + jnp.sqrt(jnp.maximum(1.0 - c * c, 0.0)) * z2)
    return jnp.sum(w[:, None] * w[None, :] * f(u1, u2))


def _check_var(name, v):
    try:
        x = float(v)
    except (TypeError, jax.errors.ConcretizationTypeError):
        return
    if not x >= 0:  # also NaN
        raise ValueError(f"{name}: expected a non-negative variance, got {x}.")


def _arccos_kernel(c, alpha):
    """E[φ(u₁)φ(u₂)]/q for φ = max(h, 0) + α min(h, 0) (Cho & Saul 2009, n = 1)."""
    c = jnp.clip(c, -1.0, 1.0)
    k = (jnp.sqrt(jnp.maximum(1.0 - c * c, 0.0)) + (jnp.pi - jnp.arccos(c)) * c) / (2.0 * jnp.pi)
    return (1.0 - alpha) ** 2 * k + alpha * c


def _pw_gain(a: Activation):
    """(1 + α²)/2 = E[φ(√q z)²]/q = E[φ'(√q z)²] for the piecewise-linear family."""
    assert a.slope is not None  # the piecewise-linear family has a slope
    return 0.5 * (1.0 + a.slope**2)


def _hard_tanh_moments(q):
    """Hard tanh in closed form (Gauss–Hermite fails on the jumps of φ' at |h| = 1): with
    t = 1/√q, E[φ(√q z)²] = q(erf(t/√2) − 2tϕ(t)) + erfc(t/√2), E[φ'²] = erf(t/√2) and
    d/dq E[φ²] = erf(t/√2) − 2tϕ(t) (ϕ the standard normal density)."""
    q = jnp.asarray(q, float_dtype(q, weak_as_default=True))
    t = 1.0 / jnp.sqrt(jnp.maximum(q, jnp.finfo(q.dtype).tiny))
    e = jax.scipy.special.erf(t / math.sqrt(2.0))
    inner = e - 2.0 * t * jnp.exp(-0.5 * t * t) / math.sqrt(2.0 * math.pi)
    return q * inner + (1.0 - e), e, inner


def length_map(q, act, sigma_w2, sigma_b2):
    """One step of the length map q ↦ σ_w² E[φ(√q z)²] + σ_b² (Poole et al. 2016, eq. 3).

    Exact for the piecewise-linear family (σ_w² q (1 + α²)/2 + σ_b²), quadrature otherwise.
    """
    a = as_activation(act)
    if a.slope is not None:
        return sigma_w2 * jnp.asarray(q, float_dtype(q, weak_as_default=True)) * _pw_gain(a) + sigma_b2
    if a.name == "hard_tanh" and a.ident == 0:
        return sigma_w2 * _hard_tanh_moments(q)[0] + sigma_b2
    return sigma_w2 * gauss_expectation(lambda h: a.fn(h) ** 2, q) + sigma_b2


def q_trajectory(q0, act, sigma_w2, sigma_b2, depth: int):
    """q^1..q^depth starting from q^0 = ‖x₀‖²/n₀ (the input's mean square), ``[depth]``.

    Note q^1 = σ_w² q^0 + σ_b² applies the map to the *input* x₀ directly (no φ on x₀).
    """
    a = as_activation(act)
    q1 = sigma_w2 * jnp.asarray(q0) + sigma_b2

    def step(q, _):
        qn = length_map(q, a, sigma_w2, sigma_b2)
        return qn, qn

    _, rest = jax.lax.scan(step, q1, None, length=depth - 1)
    return jnp.concatenate([q1[None], rest])


def kappa(act, q):
    """κ(q) = E[φ'(√q z)²], the mean squared derivative at pre-activation variance q.

    The piecewise-linear family has κ = (1 + α²)/2 at every q (at q = 0 as the limit q → 0⁺).
    """
    a = as_activation(act)
    if a.slope is not None:
        return jnp.full(jnp.shape(q), _pw_gain(a), float_dtype(q, weak_as_default=True))
    if a.name == "hard_tanh" and a.ident == 0:
        return _hard_tanh_moments(q)[1]
    return gauss_expectation(lambda h: a.deriv(h) ** 2, q)


def chi1(act, sigma_w2, q):
    """χ₁ = σ_w² E[φ'(√q z)²] (Poole et al. 2016, eq. 5; Schoenholz et al. 2017, eq. 5)."""
    return sigma_w2 * kappa(act, q)


def _solve_fixed_point(F, q0, tol):
    """The fixed point of the length map reached from q0: +inf if F(q) > q all the way up
    (q0·2^100), 0 if F(q) < q all the way down (q0·2^−100). Returns (q*, q_eval) where
    q_eval is q* itself, or a q deep in the limiting regime when q* is 0 or +inf."""
    dt = q0.dtype
    ks = jnp.arange(1, _OCTAVES + 1, dtype=dt)
    up, dn = q0 * 2.0**ks, q0 * 2.0 ** (-ks)
    Fall = F(jnp.concatenate([q0[None], up, dn]))  # one batched evaluation
    f0, Fu, Fd = Fall[0], Fall[1 : _OCTAVES + 1], Fall[_OCTAVES + 1 :]
    hit_u = Fu <= up  # first octave above q0 where F stops exceeding q
    hit_d = (Fd >= dn * (1.0 + tol)) & (dn > 0)  # first below where F reaches q (tol: tangency at 0)
    iu, idn = jnp.argmax(hit_u), jnp.argmax(hit_d)
    going_up = f0 > q0
    lo = jnp.where(going_up, jnp.where(iu == 0, q0, up[iu - 1]), dn[idn])
    hi = jnp.where(going_up, up[iu], jnp.where(idn == 0, q0, dn[idn - 1]))

    def bisect(_, lohi):  # invariant F(lo) > lo, F(hi) ≤ hi; geometric midpoint
        l, h = lohi
        m = jnp.sqrt(l) * jnp.sqrt(h)
        above = F(m) > m
        return jnp.where(above, m, l), jnp.where(above, h, m)

    lo, hi = jax.lax.fori_loop(0, 64, bisect, (lo, hi))
    inf = jnp.asarray(jnp.inf, dt)
    q = jnp.where(going_up, jnp.where(hit_u.any(), 0.5 * (lo + hi), inf), jnp.where(hit_d.any(), 0.5 * (lo + hi), 0.0))
    q = jnp.where(f0 == q0, q0, q)
    q = jnp.where(jnp.isnan(f0), jnp.nan, q)
    q_eval = jnp.where(q == 0, q0 * 2.0**-_Q_LIMIT, jnp.where(q == inf, q0 * 2.0**_Q_LIMIT, q))
    return q, q_eval


def _tol(dt):
    return 64 * jnp.finfo(dt).eps


def _start(a, sigma_w2, sigma_b2, q0):
    dt = float_dtype(q0, sigma_w2, sigma_b2, weak_as_default=True)
    sw, sb = jnp.asarray(sigma_w2, dt), jnp.asarray(sigma_b2, dt)
    q0 = jnp.asarray(q0, dt)
    # q0 = 0 is the zero input: the first layer gives F(0) = σ_w² φ(0)² + σ_b²
    q0 = jnp.where(q0 > 0, q0, length_map(jnp.zeros_like(q0), a, sw, sb))
    return sw, sb, q0, dt


def _qstar_chi(a: Activation, sigma_w2, sigma_b2, q0):
    """(q*, χ₁, χ_q, q_eval, dtype) for an activation; closed form for the piecewise-linear family."""
    sw, sb, q0, dt = _start(a, sigma_w2, sigma_b2, q0)
    zero = q0 <= 0  # zero input and F(0) = 0: the signal stays exactly 0
    if a.slope is not None:
        s = sw * _pw_gain(a)
        q = jnp.where(s < 1, sb / jnp.where(s < 1, 1 - s, 1.0), jnp.inf)
        q = jnp.where((sb == 0) & (s == 1), q0, q)  # F(q) = q: every q is fixed
        q = jnp.where(zero, 0.0, q)
        return q, s, s, q, dt
    q0s = jnp.where(zero, 1.0, q0)
    F = lambda q: length_map(q, a, sw, sb)
    q, q_eval = _solve_fixed_point(F, q0s, _tol(dt))
    q = jnp.where(zero, 0.0, q)
    c1 = chi1(a, sw, q_eval)
    # χ_q = F'(q) = σ_w² d/dq E[φ(√q z)²] = σ_w² E[φ φ'(√q z) z]/√q: no φ'' needed, so kinks
    # (hard tanh, ELU'', ReLU-like callables) contribute correctly
    rq = jnp.sqrt(q_eval)
    if a.name == "hard_tanh" and a.ident == 0:
        chiq = sw * _hard_tanh_moments(q_eval)[2]
    else:
        chiq = sw * gauss_expectation(lambda h: a.fn(h) * a.deriv(h) * h, q_eval) / (rq * rq)
    return q, c1, chiq, q_eval, dt


def qstar(act, sigma_w2, sigma_b2, q0=1.0, iters: int = 2000):
    """Fixed point q* of the length map reached from q0 (traced σ's and q0).

    Found by bracketing, not by iterating: the octaves q0·2^{±k} are scanned in the direction
    the map moves q0, and the first sign change of F(q) − q is bisected to machine precision.
    No sign change up to q0·2^100 means the network explodes (q* = +inf); none down to
    q0·2^−100 means the signal dies (q* = 0, e.g. tanh at σ_b = 0, σ_w² ≤ 1). The
    piecewise-linear family is exact (q* = σ_b²/(1 − χ₁), +inf for χ₁ ≥ 1 with σ_b² > 0).

    Args:
      act: activation name, :class:`~vgtheory.Activation` or elementwise callable.
      sigma_w2, sigma_b2: weight and bias variances (≥ 0).
      q0: starting pre-activation variance (the input's); where the length map has several
        attracting fixed points (e.g. GELU at σ_b = 0) the one reached from q0 is returned.
      iters: ignored (kept for backward compatibility; the bracketing needs no count).

    Example:
      >>> round(float(qstar("relu", 1.5, 0.1)), 6)   # σ_b²/(1 − σ_w²/2)
      0.4
      >>> float(qstar("relu", 3.0, 0.05)), float(qstar("tanh", 0.9, 0.0))
      (inf, 0.0)
    """
    _check_var("sigma_w2", sigma_w2)
    _check_var("sigma_b2", sigma_b2)
    return _qstar(as_activation(act), sigma_w2, sigma_b2, q0)


@functools.partial(jax.jit, static_argnums=0)
def _qstar(a: Activation, sigma_w2, sigma_b2, q0):
    return _qstar_chi(a, sigma_w2, sigma_b2, q0)[0]


class MeanField(NamedTuple):
    """Mean-field quantities at the fixed point.

    Attributes:
      qstar: fixed point of the length map reached from q0; +inf when the net explodes.
      chi1: gradient variance ratio per layer at q* (its limit q → 0⁺ or q → ∞ there).
      cstar: fixed point of the correlation map (1 in the ordered and critical phases and
        when q* is 0 or +inf; the attracting c* < 1 in the chaotic phase).
      xi_q: depth scale −1/log χ_q of the length map's approach to q* (negative: growth).
      xi_c: depth scale −1/log χ_c of correlations; +inf at the order–chaos boundary and
        where c → 1 only by a power law (q* = 0 or +inf, and ReLU-type nets at σ_b = 0).
      phase: int code into :data:`PHASES`: 0 ordered (χ₁ < 1), 1 critical (|χ₁ − 1| ≤ 64 ε;
        takes precedence), 2 chaotic (χ₁ > 1, finite q*), 3 exploding (q* = +inf); −1 undetermined.
    """

    qstar: jax.Array
    chi1: jax.Array
    cstar: jax.Array
    xi_q: jax.Array
    xi_c: jax.Array
    phase: jax.Array

    @property
    def phase_name(self) -> str:
        """The phase as a word (concrete, scalar results only)."""
        p = int(self.phase)
        return PHASES[p] if p >= 0 else "undetermined"


def correlation_map(c, q, act, sigma_w2, sigma_b2):
    """c ↦ (σ_w² E[φ(u₁)φ(u₂)] + σ_b²)/q (Poole et al. 2016, eq. 4), at q = q*.

    Exact (arc-cosine kernel) for the piecewise-linear family, quadrature otherwise.
    """
    a = as_activation(act)
    if a.slope is not None:
        return (sigma_w2 * q * _arccos_kernel(c, a.slope) + sigma_b2) / q
    return (sigma_w2 * _bivariate(lambda u1, u2: a.fn(u1) * a.fn(u2), q, c) + sigma_b2) / q


def _depth_scale(chi, tol):
    """−1/log|χ|: +inf within ``tol`` of χ = 1 (a divergent depth scale), negative for χ > 1."""
    lg = jnp.log(jnp.abs(chi))
    crit = jnp.abs(chi - 1) <= tol
    return jnp.where(crit, jnp.inf, -1.0 / jnp.where(crit, 1.0, lg))


def _phase(q, c1, tol):
    code = jnp.where(c1 < 1, 0, 2)
    code = jnp.where(jnp.isinf(q) & (q > 0), 3, code)
    code = jnp.where(jnp.abs(c1 - 1) <= tol, 1, code)
    return jnp.where(jnp.isnan(q) | jnp.isnan(c1), -1, code).astype(jnp.int32)


def _chaotic_cstar(a, q, sw, sb, iters=64):
    """The attracting c* < 1 of the correlation map when c = 1 is unstable (χ₁ > 1): C(c) > c
    below c* and C(c) < c between c* and 1, so bisect the sign of C(c) − c on [−1, 1]."""
    C = lambda c: correlation_map(c, q, a, sw, sb)

    def body(_, lohi):
        l, h = lohi
        m = 0.5 * (l + h)
        up = C(m) > m
        return jnp.where(up, m, l), jnp.where(up, h, m)

    one = jnp.ones_like(q)
    l, h = jax.lax.fori_loop(0, iters, body, (-one, one))
    return 0.5 * (l + h)


def mean_field(act, sigma_w2, sigma_b2, q0=1.0) -> MeanField:
    """q*, χ₁, c*, ξ_q, ξ_c and the phase, for any activation (Schoenholz et al. 2017, eqs. 5–9).

    Closed forms for linear, ReLU, leaky ReLU and PReLU; quadrature otherwise (any
    elementwise callable, φ' by autodiff). Where the signal dies or explodes the limits are
    reported (q* = 0 or +inf, χ₁ its limit there) instead of NaN.

    Args:
      act: activation name, :class:`~vgtheory.Activation` or elementwise callable.
      sigma_w2, sigma_b2: weight and bias variances (≥ 0; may be traced).
      q0: starting pre-activation variance (see :func:`qstar`).

    Returns:
      A :class:`MeanField`.

    Example:
      >>> mf = mean_field("tanh", 1.0, 0.0)
      >>> float(mf.qstar), round(float(mf.chi1), 6), mf.phase_name   # σ_b = 0: q* = 0, χ₁ = σ_w² φ'(0)²
      (0.0, 1.0, 'critical')
      >>> mf = mean_field("relu", 3.0, 0.05)
      >>> float(mf.qstar), float(mf.chi1), mf.phase_name
      (inf, 1.5, 'exploding')
    """
    _check_var("sigma_w2", sigma_w2)
    _check_var("sigma_b2", sigma_b2)
    return _mean_field(as_activation(act), sigma_w2, sigma_b2, q0)


@functools.partial(jax.jit, static_argnums=0)
def _mean_field(a: Activation, sigma_w2, sigma_b2, q0) -> MeanField:
    q, c1, chiq, q_eval, dt = _qstar_chi(a, sigma_w2, sigma_b2, q0)
    sw, sb = jnp.asarray(sigma_w2, dt), jnp.asarray(sigma_b2, dt)
    tol = _tol(dt)
    phase = _phase(q, c1, tol)
    finite_q = (q > 0) & jnp.isfinite(q)
    chaotic = (phase == 2) & finite_q
    if a.slope is not None:  # c* = 1 is the only attracting fixed point (module docstring)
        c = jnp.ones_like(q)
    else:
        c = jnp.where(chaotic, _chaotic_cstar(a, jnp.where(chaotic, q, 1.0), sw, sb), 1.0)
    if a.slope is not None:
        chic = c1
    else:
        chic = sw * _bivariate(lambda u1, u2: a.deriv(u1) * a.deriv(u2), q_eval, c)
    # ξ_c diverges at criticality and where c → 1 by a power law: q* = 0 or +inf (the limiting
    # correlation maps have slope 1 at c = 1), and ReLU-type nets at σ_b = 0 or χ₁ ≥ 1
    power_law = ~finite_q | (phase == 1) | ((a.slope is not None) & (sb == 0))
    xi_c = jnp.where(power_law, jnp.inf, _depth_scale(chic, tol))
    xi_q = _depth_scale(chiq, tol)
    return MeanField(
        q, jnp.asarray(c1, dt) * jnp.ones_like(q), c.astype(dt), xi_q * jnp.ones_like(q), xi_c.astype(dt), phase
    )


def critical_sigma_w2(act, sigma_b2, lo: float = 0.1, hi: float = 20.0, iters: int = 60, *, grow: bool = False, q0=1.0):
    """σ_w² at which χ₁(q*) = 1 (the order–chaos boundary), by bisection on the sign of χ₁ − 1.

    Exact for the piecewise-linear family: 2/(1 + α²) at every σ_b² (He et al. 2015 for ReLU).
    At σ_b² = 0 for φ with φ(0) = 0 the crossing is tangential (for tanh χ₁ − 1 ≈ δ²/3 at
    σ_w² = 1 + δ, so bisection resolves it only to √ε): there the boundary is where q* = 0
    loses stability, σ_w² = 1/φ'(0)² (tanh 1, erf π/4), returned exactly when χ₁ − 1 changes
    sign within 1 % of it.

    Args:
      act: activation name, :class:`~vgtheory.Activation` or elementwise callable.
      sigma_b2: bias variance (≥ 0; may be traced).
      lo, hi: the bracket (0 < lo < hi).
      iters: bisection steps.
      grow: when χ₁ − 1 has the same sign at both ends, double ``hi`` (or halve ``lo``) up
        to 40 times until it changes sign, instead of failing.
      q0: starting variance for q* (see :func:`qstar`).

    Returns:
      σ_w², never a bracket end: with concrete arguments a bracket without a crossing raises;
      inside ``jit``/``vmap`` such an entry is NaN.

    Raises:
      ValueError: no sign change of χ₁ − 1 in [lo, hi] (naming ``hi`` or ``lo``, the values
        and χ₁ at both ends), a bad bracket, or a negative variance.

    Example:
      >>> float(critical_sigma_w2("relu", 0.0)), float(critical_sigma_w2("tanh", 0.0))
      (2.0, 1.0)
    """
    _check_var("sigma_b2", sigma_b2)
    a = as_activation(act)
    iters = check_int("iters", iters)
    clo, chi = concrete(lo), concrete(hi)
    if clo is not None and chi is not None and not (0 < float(clo) < float(chi) < math.inf):
        raise ValueError(f"lo: expected 0 < lo < hi < inf, got lo={float(clo)}, hi={float(chi)}.")
    dt = float_dtype(sigma_b2, lo, hi, weak_as_default=True)
    if a.slope is not None:
        return jnp.full(jnp.shape(sigma_b2), 2.0 / (1.0 + a.slope**2), dt)
    s, found, lo, hi, c_lo, c_hi = _critical(
        a,
        jnp.asarray(sigma_b2, dt),
        jnp.asarray(lo, dt),
        jnp.asarray(hi, dt),
        q0,
        iters,
        bool(grow),
        _tangent_point(a, dt),
    )
    ok = concrete(found)
    if ok is not None and not bool(ok):  # concrete call (scalars; vmap for batches): say why
        which = "hi" if float(c_hi) <= 1 else "lo"
        raise ValueError(
            f"{which}: no order–chaos crossing in the bracket [lo, hi] = [{float(lo):g}, {float(hi):g}]: "
            f"χ₁ = {float(c_lo):.6g} at lo and {float(c_hi):.6g} at hi, both {'below' if which == 'hi' else 'above'}"
            f" 1 (for {a.name}, σ_b² = {float(sigma_b2):g}); {'raise hi' if which == 'hi' else 'lower lo'} or "
            f"pass grow=True."
        )
    return s


@functools.lru_cache(maxsize=256)
def _tangent_point(a: Activation, dt):
    """1/φ'(0)² when φ(0) = 0 (where q* = 0 loses stability at σ_b = 0), else None."""
    try:  # a compiled executable runs outside any trace (a caller's vmap/jit included)
        z = np.zeros((), dt)
        f0, d0 = jax.jit(lambda x: (a.fn(x), a.deriv(x))).lower(z).compile()(z)
        f0, d0 = concrete(f0), concrete(d0)
    except Exception:  # noqa: BLE001 — a callable closing over tracers: no analytic point
        return None
    if f0 is None or d0 is None or float(f0) != 0.0 or not 0.0 < abs(float(d0)) < math.inf:
        return None
    return 1.0 / float(d0) ** 2


@functools.partial(jax.jit, static_argnums=(0, 5, 6, 7))
def _critical(a, sb, lo, hi, q0, iters, grow, sc):
    # one vmapped evaluation of χ₁ at several σ_w² (bracket ends, the tangential check) keeps
    # a single copy of the fixed-point solver in the compiled program besides the bisection's
    chis = jax.vmap(lambda s: _qstar_chi(a, s, sb, q0)[1])
    if grow:

        def cond(st):
            l, h, i = st
            p = chis(jnp.stack([l, h])) > 1
            return (p[0] | ~p[1]) & (i < 40)

        def grow_body(st):
            l, h, i = st
            p = chis(jnp.stack([l, h])) > 1
            return jnp.where(p[0], 0.5 * l, l), jnp.where(p[1], h, 2.0 * h), i + 1

        lo, hi, _ = jax.lax.while_loop(cond, grow_body, (lo, hi, 0))
    pts = [lo, hi] if sc is None else [lo, hi, 0.99 * jnp.asarray(sc, lo.dtype), 1.01 * jnp.asarray(sc, lo.dtype)]
    c = chis(jnp.stack(pts))
    c_lo, c_hi = c[0], c[1]
    found = (c_lo <= 1) & (c_hi > 1)

    def body(_, lohi):
        l, h = lohi
        m = 0.5 * (l + h)
        up = _qstar_chi(a, m, sb, q0)[1] > 1
        return jnp.where(up, l, m), jnp.where(up, m, h)

    l, h = jax.lax.fori_loop(0, iters, body, (lo, hi))
    s = 0.5 * (l + h)
    if sc is not None:  # σ_b = 0, φ(0) = 0: the tangential crossing is exactly at 1/φ'(0)²
        sc = jnp.asarray(sc, s.dtype)
        tangential = (sb == 0) & (c[2] <= 1) & (c[3] > 1) & (lo <= sc) & (sc <= hi)
        s = jnp.where(tangential, sc, s)
    return jnp.where(found, s, jnp.nan), found, lo, hi, c_lo, c_hi
