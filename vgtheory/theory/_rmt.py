"""Random-matrix laws for deep Jacobians: MP, Fuss–Catalan, dynamical isometry, log-normality.

Conventions: W is n×n with i.i.d. N(0, σ²/n) entries (fan-in); a product P = W_L⋯W_1; the
"spectrum of JJᵀ" is the empirical distribution of the n eigenvalues of JJᵀ, and its moments
are m_k = (1/n) tr (JJᵀ)^k. Gradient norms ‖g‖² are whole-vector squared norms.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float
from .._numerics import float_dtype


def _pos_int(name, k, lo=1):
    if int(k) != k or k < lo:
        raise ValueError(f"{name}: expected an integer ≥ {lo}, got {k!r}.")
    return int(k)


def _pos(name, x):
    if not np.all(np.asarray(x) > 0):
        raise ValueError(f"{name}: expected positive values, got {x!r}.")


# ----------------------------------------------------------------------------- L4
def marchenko_pastur_density(x: ArrayLike, ratio: float, variance: float = 1.0) -> Float[Array, "..."]:
    """Continuous part of the Marchenko–Pastur density.

    Eigenvalues of S = (1/n) X Xᵀ, X p×n with i.i.d. entries of variance σ², as p, n → ∞ with
    p/n → c = ``ratio``: ρ(x) = √((λ₊ − x)(x − λ₋)) / (2π σ² c x) on [λ₋, λ₊],
    λ± = σ²(1 ± √c)²; for c > 1 an atom of mass 1 − 1/c sits at 0 (not included here).

    References: Marchenko & Pastur, Math. USSR-Sb. 1 (1967).

    Example:
      >>> round(float(marchenko_pastur_density(1.0, 1.0)), 4)   # √3/(2π) at x = 1, c = 1
      0.2757
    """
    _pos("ratio", ratio)
    _pos("variance", variance)
    x = jnp.asarray(x, dtype=float_dtype())
    lo, hi = variance * (1 - math.sqrt(ratio)) ** 2, variance * (1 + math.sqrt(ratio)) ** 2
    inside = (x > lo) & (x < hi)
    val = jnp.sqrt(jnp.clip((hi - x) * (x - lo), 0.0)) / (2 * math.pi * variance * ratio * jnp.where(inside, x, 1.0))
    return jnp.where(inside, val, 0.0)


def marchenko_pastur_moments(k: int, ratio: float, variance: float = 1.0) -> np.ndarray:
    """m_j = σ^{2j} Σ_{r=0}^{j−1} c^r/(r+1) C(j, r) C(j−1, r), j = 1..k (Narayana polynomials).

    References: Bai & Silverstein, *Spectral Analysis of Large Dimensional Random Matrices*
    (2010), Lemma 3.1.
    """
    k = _pos_int("k", k)
    _pos("ratio", ratio)
    return np.array(
        [
            variance**j * sum(ratio**r / (r + 1) * math.comb(j, r) * math.comb(j - 1, r) for r in range(j))
            for j in range(1, k + 1)
        ]
    )


def wishart_moments_finite(k: int, p: int, n: int) -> np.ndarray:
    """Exact E (1/p) tr S^j, j = 1..k ≤ 3, for S = (1/n) X Xᵀ, X p×n real standard Gaussian.

    E tr(XXᵀ) = pn, E tr(XXᵀ)² = pn(n + p + 1), E tr(XXᵀ)³ = pn(n² + p² + 3np + 3n + 3p + 4)
    (real Wishart moments; Letac & Massam, Ann. Stat. 32 (2004)). The 1/n terms are the
    finite-size corrections to :func:`marchenko_pastur_moments`.
    """
    k = _pos_int("k", k)
    if k > 3:
        raise ValueError(f"k: exact finite-n moments are implemented for k ≤ 3, got {k}.")
    p, n = _pos_int("p", p), _pos_int("n", n)
    t = [p * n, p * n * (n + p + 1), p * n * (n * n + p * p + 3 * n * p + 3 * n + 3 * p + 4)]
    return np.array([t[j] / (p * n ** (j + 1)) for j in range(k)], dtype=np.float64)


def fuss_catalan(k: int, s: int) -> float:
    """FC_s(k) = C((s+1)k, k)/(sk + 1): the k-th moment of the spectrum of PPᵀ.

    P = W_s⋯W_1 with W n×n of i.i.d. N(0, 1/n) entries, n → ∞: (1/n) E tr (PPᵀ)^k → FC_s(k).
    s = 1 gives the Catalan numbers (Marchenko–Pastur at c = 1).

    References: Penson & Życzkowski, Phys. Rev. E 83 (2011); Alexeev, Götze & Tikhomirov,
    Lith. Math. J. 50 (2010).

    Example:
      >>> [fuss_catalan(k, 2) for k in (1, 2, 3)]
      [1.0, 3.0, 12.0]
    """
    k, s = _pos_int("k", k), _pos_int("s", s)
    return math.comb((s + 1) * k, k) / (s * k + 1)


class ProductSecondMoment(NamedTuple):
    """Exact finite-width moments of the spectrum of PPᵀ for a Gaussian product.

    Attributes:
      m1: E (1/n) tr PPᵀ (= σ^{2L}).
      m2: E (1/n) tr (PPᵀ)².
      m1_sq: E [((1/n) tr PPᵀ)²].
      spread: E[m̂₂ − m̂₁²] = m2 − m1_sq, the expected per-network spectral variance.
    """

    m1: float
    m2: float
    m1_sq: float
    spread: float


def gaussian_product_moments(n: int, depth: int, sigma_w2: float = 1.0) -> ProductSecondMoment:
    """Exact E of the first two spectral moments of PPᵀ, P = W_L⋯W_1, W_ij ~ N(0, σ_w²/n).

    With A_l = W_l A_{l−1} W_lᵀ, x_l = E tr A_l², y_l = E (tr A_l)², Wick's theorem gives
    x_l = σ⁴[(1 + 1/n) x_{l−1} + y_{l−1}/n], y_l = σ⁴[y_{l−1} + (2/n) x_{l−1}],
    x_0 = n, y_0 = n². As n → ∞, m2 → σ^{4L}(L + 1) = σ^{4L} FC_L(2). (Derived here; the
    recursion is the genus expansion truncated at the first order it needs.)
    """
    n, depth = _pos_int("n", n), _pos_int("depth", depth)
    _pos("sigma_w2", sigma_w2)
    x, y = float(n), float(n) ** 2
    s4 = sigma_w2**2
    for _ in range(depth):
        x, y = s4 * ((1 + 1 / n) * x + y / n), s4 * (y + 2 * x / n)
    m1 = sigma_w2**depth
    return ProductSecondMoment(m1, x / n, y / n**2, x / n - y / n**2)


# ----------------------------------------------------------------------------- L5
class IsometryMoments(NamedTuple):
    """Mean and variance of the JJᵀ spectrum (infinite width), Pennington et al. 2017.

    Attributes:
      mean: m₁ = (σ_w² μ₁)^L.
      variance: σ²_JJᵀ = m₁² · L · (μ₂/μ₁² − 1 − s₁), s₁ = −1 (Gaussian W), 0 (orthogonal).
      mu1, mu2: E[φ'(h)²], E[φ'(h)⁴] at h ~ N(0, q*).
    """

    mean: float
    variance: float
    mu1: float
    mu2: float


def isometry_moments(
    depth: int,
    weights: str = "gaussian",
    act="linear",
    sigma_w2: float = 1.0,
    q: float | None = None,
    sigma_b2: float = 0.0,
) -> IsometryMoments:
    """Dynamical-isometry moments of the JJᵀ spectrum for a deep network at its fixed point.

    The spectrum of JJᵀ is the free product of L copies of D²(σ_w² WWᵀ); S-transforms
    multiply, and to first order S(z) = (1/m₁)(1 − v z) with v the relative variance
    m₂/m₁² − 1, so relative variances add: v_JJᵀ = L (v_D² + v_WWᵀ) with v_D² = μ₂/μ₁² − 1,
    v_WWᵀ = 1 for Gaussian (MP at c = 1) and 0 for orthogonal weights. Linear networks:
    μ₁ = μ₂ = 1, so Gaussian σ²_JJᵀ = L at σ_w² = 1 and orthogonal networks are exact
    isometries.

    Args:
      depth: L.
      weights: ``"gaussian"`` or ``"orthogonal"``.
      act: activation (name or :class:`~vgtheory.Activation`).
      sigma_w2: weight variance (gain² for orthogonal).
      q: pre-activation variance (default q* of the length map at (σ_w², σ_b²)).
      sigma_b2: bias variance, for q*.

    References:
      Pennington, Schoenholz & Ganguli, "Resurrecting the sigmoid in deep learning through
      dynamical isometry", NeurIPS 2017, eqs. (12)–(17); "The emergence of spectral
      universality in deep networks", AISTATS 2018.
    """
    from ._meanfield import gauss_expectation, qstar
    from .._activations import as_activation

    depth = _pos_int("depth", depth)
    if weights not in ("gaussian", "orthogonal"):
        raise ValueError(f"weights: expected 'gaussian' or 'orthogonal', got {weights!r}.")
    a = as_activation(act)
    if q is None:
        q = float(qstar(a, sigma_w2, sigma_b2))
    mu1 = float(gauss_expectation(lambda h: a.deriv(h) ** 2, q))
    mu2 = float(gauss_expectation(lambda h: a.deriv(h) ** 4, q))
    v = depth * (mu2 / mu1**2 - 1 + (1.0 if weights == "gaussian" else 0.0))
    mean = (sigma_w2 * mu1) ** depth
    return IsometryMoments(mean, mean**2 * v, mu1, mu2)


# ----------------------------------------------------------------------------- special functions
def _digamma(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64).copy()
    out = np.zeros_like(x)
    while np.any(x < 10):
        small = x < 10
        out[small] -= 1 / x[small]
        x[small] += 1
    f = 1 / (x * x)
    return out + np.log(x) - 0.5 / x - f * (1 / 12 - f * (1 / 120 - f * (1 / 252 - f * (1 / 240 - f / 132))))


def _trigamma(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64).copy()
    out = np.zeros_like(x)
    while np.any(x < 10):
        small = x < 10
        out[small] += 1 / x[small] ** 2
        x[small] += 1
    f = 1 / (x * x)
    return out + 1 / x + f / 2 + (f / x) * (1 / 6 - f * (1 / 30 - f * (1 / 42 - f / 30)))


class LogMoments(NamedTuple):
    """Per-layer mean and variance of log of a squared-norm ratio."""

    mean: float
    variance: float


def _poisson_log_chi2(n_dof: float, half_lambda: float) -> LogMoments:
    """E, Var of log X, X noncentral χ²(n_dof, λ): a Poisson(λ/2) mixture of χ²_{n+2j}."""
    hi = int(half_lambda + 12 * math.sqrt(half_lambda + 1) + 60)
    j = np.arange(hi)
    logp = (
        -half_lambda + j * math.log(half_lambda) - np.array([math.lgamma(v + 1) for v in j])
        if half_lambda > 0
        else np.where(j == 0, 0.0, -np.inf)
    )
    p = np.exp(logp)
    e = math.log(2) + _digamma(n_dof / 2 + j)
    mean = float(np.sum(p * e))
    var = float(np.sum(p * (_trigamma(n_dof / 2 + j) + e**2)) - mean**2)
    return LogMoments(mean, var)


# ----------------------------------------------------------------------------- S5
def near_identity_log_rate(eps: float, n: int, normalised: bool = True) -> LogMoments:
    """Per-layer E and Var of log(‖Wᵀu‖²/‖u‖²) for W = c(I + εG/√n), G standard Gaussian.

    By rotation invariance ‖(I + εG/√n)ᵀu‖² = (ε²/n)·X for unit u, X ~ noncentral χ²(n,
    λ = n/ε²), independently at every layer, so log‖g₀‖² − log‖g_L‖² is a sum of L i.i.d.
    terms. E‖Wᵀu‖² = c²(1 + ε²); ``normalised`` takes c² = 1/(1 + ε²) (mean preserved
    exactly: "σ² = 1"). Small ε: E log = log c² + ε²(1 − 2/n) + O(ε⁴), Var = 4ε²/n + O(ε⁴):
    the typical norm decays by ≈2ε²/n per layer although the mean is preserved; without
    the normalisation it *grows* for n ≥ 3.

    Reference: seed 000 (S5); derived here (noncentral χ² log-moments as a Poisson mixture).
    """
    _pos("eps", eps)
    n = _pos_int("n", n)
    m = _poisson_log_chi2(n, n / (2 * eps**2))
    shift = math.log(eps**2 / n) - (math.log1p(eps**2) if normalised else 0.0)
    return LogMoments(m.mean + shift, m.variance)


# ----------------------------------------------------------------------------- L2
def relu_log_norm_moments(n: int) -> LogMoments:
    """Exact per-layer E and Var of log(‖D W u‖²/‖u‖²) in a ReLU net with He init (σ_w² = 2).

    With zero biases the ratio is (2/n)·χ²_K with K ~ Binomial(n, 1/2) active units
    (Hanin & Nica 2019), independent across layers; K = 0 (probability 2⁻ⁿ) is excluded.
    Large n: Var = 5/n + O(1/n²), E = −5/(2n) + O(1/n²).
    """
    n = _pos_int("n", n)
    k = np.arange(1, n + 1)
    logp = np.array([math.lgamma(n + 1) - math.lgamma(v + 1) - math.lgamma(n - v + 1) for v in k]) - n * math.log(2)
    p = np.exp(logp)
    p = p / p.sum()
    e = math.log(2) + _digamma(k / 2) + math.log(2 / n)
    mean = float(np.sum(p * e))
    return LogMoments(mean, float(np.sum(p * (_trigamma(k / 2) + e**2)) - mean**2))


def hanin_nica_log_variance(widths, constant: float = 5.0) -> float:
    """Var log‖J u‖² ≈ C Σ_l 1/n_l (C = 5 for ReLU with He init; Hanin & Nica 2019, Thm 1).

    Hanin & Nica, "Products of many large random matrices and gradients in deep neural
    networks", Commun. Math. Phys. 376 (2020): log‖J u‖² is asymptotically Gaussian with
    mean −(5/2)β and variance 5β, β = Σ 1/n_l, when depth and widths grow together.
    """
    w = np.asarray(widths, dtype=np.float64)
    _pos("widths", w)
    return float(constant * np.sum(1.0 / w))
