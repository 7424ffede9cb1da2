"""Mean-field signal propagation for any activation, by Gauss–Hermite quadrature.

For a wide fully connected network with W_ij ~ N(0, σ_w²/n) and b_i ~ N(0, σ_b²),

    q^l = σ_w² E_z[φ(√q^{l−1} z)²] + σ_b²                       (length map)
    χ₁  = σ_w² E_z[φ'(√q* z)²]                                   (gradient ratio per layer)
    c^l = (σ_w² E[φ(u₁)φ(u₂)] + σ_b²)/q*,  (u₁,u₂) ~ N(0, q*[[1,c],[c,1]])   (correlation map)

χ₁ < 1 is the ordered phase (gradients vanish), χ₁ > 1 chaos (they explode); the depth
scales are ξ_q⁻¹ = −log(χ₁ + σ_w² E[φ''(√q* z) φ(√q* z)]) and ξ_c⁻¹ = −log χ_c with
χ_c = σ_w² E[φ'(u₁)φ'(u₂)] at c*.

References:
  Poole, Lahiri, Raghu, Sohl-Dickstein & Ganguli (2016), "Exponential expressivity in deep
  neural networks through transient chaos", eqs. (3)–(5).
  Schoenholz, Gilmer, Ganguli & Sohl-Dickstein (2017), "Deep information propagation",
  eqs. (5), (7), (9).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._activations import Activation, activation

_N_QUAD = 200  # relative error ~2e-8 for tanh² at q = 4 (poles at ±iπ/4 limit the rate)


def _nodes(n: int = _N_QUAD):
    x, w = np.polynomial.hermite_e.hermegauss(n)  # weight e^{−x²/2}
    return x, w / np.sqrt(2.0 * np.pi)


def _float_dtype(x):
    """The dtype of ``x`` if it is a float array, else the default float (float64 under x64)."""
    if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating) and not getattr(x, "weak_type", False):
        return x.dtype
    return jnp.result_type(float)


def gauss_expectation(f: Callable, q, n: int = _N_QUAD):
    """E_{z~N(0,1)}[f(√q z)] by n-point Gauss–Hermite quadrature (traced ``q``).

    Example:
      >>> import jax.numpy as jnp
      >>> round(float(gauss_expectation(lambda h: h**2, 2.0)), 6)
      2.0
    """
    x, w = _nodes(n)
    q = jnp.asarray(q, dtype=_float_dtype(q))
    dt = q.dtype
    z = jnp.sqrt(q)[..., None] * jnp.asarray(x, dt)
    return jnp.sum(jnp.asarray(w, dt) * f(z), axis=-1)


def _bivariate(f: Callable, q, c, n: int = 48):
    """E[f(u₁, u₂)] with (u₁, u₂) ~ N(0, q[[1, c], [c, 1]])."""
    x, w = _nodes(n)
    x, w = jnp.asarray(x), jnp.asarray(w)
    z1, z2 = x[:, None], x[None, :]
    u1 = jnp.sqrt(q) * z1
    u2 = jnp.sqrt(q) * (c * z1 + jnp.sqrt(jnp.maximum(1.0 - c * c, 0.0)) * z2)
    return jnp.sum(w[:, None] * w[None, :] * f(u1, u2))


def _act(act) -> Activation:
    return activation(act) if isinstance(act, str) else act


def _check_var(name, v):
    try:
        ok = float(v) >= 0
    except (TypeError, jax.errors.ConcretizationTypeError):
        return
    if not ok:
        raise ValueError(f"{name}: expected a non-negative variance, got {float(v)}.")


def length_map(q, act, sigma_w2, sigma_b2):
    """One step of the length map q ↦ σ_w² E[φ(√q z)²] + σ_b² (Poole et al. 2016, eq. 3)."""
    a = _act(act)
    return sigma_w2 * gauss_expectation(lambda h: a.fn(h) ** 2, q) + sigma_b2


def q_trajectory(q0, act, sigma_w2, sigma_b2, depth: int):
    """q^1..q^depth starting from q^0 = ‖x₀‖²/n₀ (the input's mean square), ``[depth]``.

    Note q^1 = σ_w² q^0 + σ_b² applies the map to the *input* x₀ directly (no φ on x₀).
    """
    a = _act(act)
    q1 = sigma_w2 * jnp.asarray(q0) + sigma_b2

    def step(q, _):
        qn = length_map(q, a, sigma_w2, sigma_b2)
        return qn, qn

    _, rest = jax.lax.scan(step, q1, None, length=depth - 1)
    return jnp.concatenate([q1[None], rest])


def qstar(act, sigma_w2, sigma_b2, q0=1.0, iters: int = 2000):
    """Fixed point q* of the length map, by iteration from q0 (traced σ's)."""
    _check_var("sigma_w2", sigma_w2)
    _check_var("sigma_b2", sigma_b2)
    a = _act(act)
    return jax.lax.fori_loop(0, iters, lambda i, q: length_map(q, a, sigma_w2, sigma_b2),
                             jnp.asarray(q0, jnp.result_type(float)))


def kappa(act, q):
    """κ(q) = E[φ'(√q z)²], the mean squared derivative at pre-activation variance q."""
    a = _act(act)
    return gauss_expectation(lambda h: a.deriv(h) ** 2, q)


def chi1(act, sigma_w2, q):
    """χ₁ = σ_w² E[φ'(√q z)²] (Poole et al. 2016, eq. 5; Schoenholz et al. 2017, eq. 5)."""
    return sigma_w2 * kappa(act, q)


class MeanField(NamedTuple):
    """Mean-field quantities at the fixed point.

    Attributes:
      qstar: fixed point of the length map.
      chi1: gradient variance ratio per layer at q*.
      cstar: fixed point of the correlation map (1 in the ordered phase).
      xi_q: depth scale of the length map's convergence.
      xi_c: depth scale of correlations (diverges at the order–chaos boundary χ₁ = 1).
    """

    qstar: jax.Array
    chi1: jax.Array
    cstar: jax.Array
    xi_q: jax.Array
    xi_c: jax.Array


def correlation_map(c, q, act, sigma_w2, sigma_b2):
    """c ↦ (σ_w² E[φ(u₁)φ(u₂)] + σ_b²)/q (Poole et al. 2016, eq. 4), at q = q*."""
    a = _act(act)
    return (sigma_w2 * _bivariate(lambda u1, u2: a.fn(u1) * a.fn(u2), q, c) + sigma_b2) / q


def mean_field(act, sigma_w2, sigma_b2, q0=1.0) -> MeanField:
    """q*, χ₁, c*, ξ_q, ξ_c for any activation (Schoenholz et al. 2017, eqs. 5–9).

    Example:
      >>> mf = mean_field("tanh", 1.0, 0.0)
      >>> round(float(mf.chi1), 3)   # critical point of tanh at σ_b = 0
      1.0
    """
    a = _act(act)
    q = qstar(a, sigma_w2, sigma_b2, q0)
    c1 = chi1(a, sigma_w2, q)
    dd = jax.grad(a.deriv)
    phi2 = gauss_expectation(lambda h: jax.vmap(dd)(h.ravel()).reshape(h.shape) * a.fn(h), q)
    xi_q = -1.0 / jnp.log(jnp.abs(c1 + sigma_w2 * phi2))
    c = jax.lax.fori_loop(0, 500, lambda i, c: jnp.clip(correlation_map(c, q, a, sigma_w2, sigma_b2), -1.0, 1.0),
                          jnp.asarray(0.5, q.dtype))
    c = jnp.where(c1 <= 1.0, jnp.ones_like(c), c)
    chic = sigma_w2 * _bivariate(lambda u1, u2: a.deriv(u1) * a.deriv(u2), q, c)
    return MeanField(q, c1, c, xi_q, -1.0 / jnp.log(chic))


def critical_sigma_w2(act, sigma_b2, lo: float = 0.1, hi: float = 20.0, iters: int = 60):
    """σ_w² at which χ₁(q*) = 1 (the order–chaos boundary), by bisection."""
    a = _act(act)

    def body(i, lohi):
        l, h = lohi
        m = 0.5 * (l + h)
        above = chi1(a, m, qstar(a, m, sigma_b2)) > 1.0
        return jnp.where(above, l, m), jnp.where(above, m, h)

    l, h = jax.lax.fori_loop(0, iters, body, (jnp.asarray(lo), jnp.asarray(hi)))
    return 0.5 * (l + h)
