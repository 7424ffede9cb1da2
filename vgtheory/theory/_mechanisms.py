"""Closed forms for the remedies and pitfalls (seeds S8–S13, S16; literature L6, L9, L10).

Each function cites its source; derivations are in the docstrings so that a claim's
prediction can be traced to a line of algebra.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from .._activations import as_activation
from .._underflow import predicted_underflow_step as predicted_underflow_step  # (S13)
from .._numerics import x64_enabled as _x64


def gauss_expectation(f, q=1.0):
    """E f(√q z), z ~ N(0, 1), by composite Simpson on [−12, 0] and [0, 12] separately with
    one-sided values at 0, so kinks and jumps at 0 (ReLU, its step derivative, ELU) cost no
    accuracy (error ≲ 1e-10; Gauss–Hermite converges slowly for them: it gives 1.474
    instead of π/(π−1) = 1.4669 for the BatchNorm rate)."""
    t = np.linspace(0.0, 12.0, 12001)
    w = np.ones_like(t)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    w *= (t[1] - t[0]) / 3.0 * np.exp(-0.5 * t * t) / math.sqrt(2.0 * math.pi)
    t = t.copy()
    t[0] = 1e-30  # one-sided limit at 0
    dt = jnp.float64 if _x64() else jnp.float32
    r = math.sqrt(float(q))
    total = 0.0
    for sign in (1.0, -1.0):
        vals = np.asarray(f(jnp.asarray(sign * r * t, dt)), np.float64)
        total += float(np.sum(w * vals))
    return total


class WidthRatio(NamedTuple):
    """Glorot-type variance bookkeeping for one layer (S8).

    Attributes:
      alpha: forward factor α = E[φ(h)²]/q, h ~ N(0, q).
      beta: backward factor β = E[φ'(h)²].
      ratio: n_l/n_{l−1} = α/β that preserves both variances.
    """

    alpha: float
    beta: float
    ratio: float


def width_ratio(act, q=1.0) -> WidthRatio:
    """The width ratio that keeps forward *and* backward variances (seed S8; Glorot &
    Bengio 2010, §4.2.1, generalised to any φ).

    With W_l entries of variance v_l (not fan-in scaled), h_l = W_l φ(h_{l−1}) and
    g_{l−1} = φ'(h_{l−1}) ⊙ W_lᵀ g_l, at h ~ N(0, q):

        E h_l²  = n_{l−1} v_l E[φ(h)²]  = n_{l−1} v_l α q    → forward kept iff n_{l−1} v_l α = 1,
        E g_{l−1}² = n_l v_l E[φ'(h)²] E g_l² = n_l v_l β E g_l²  → backward kept iff n_l v_l β = 1.

    Both hold iff n_l/n_{l−1} = α/β. Positive-homogeneous φ (linear, ReLU, leaky ReLU)
    have α = β, ratio 1; tanh at q = 1 has α ≈ 0.394 < β ≈ 0.464 (ratio ≈ 0.85).

    Args:
      act: activation name or object.
      q: pre-activation variance (> 0).

    Example:
      >>> round(float(width_ratio("relu").ratio), 6)
      1.0
    """
    if not float(q) > 0:
        raise ValueError(f"q: expected a positive pre-activation variance, got {q!r}.")
    a = as_activation(act)
    alpha = float(gauss_expectation(lambda h: a.fn(h) ** 2, q)) / float(q)
    beta = float(gauss_expectation(lambda h: a.deriv(h) ** 2, q))
    return WidthRatio(alpha, beta, alpha / beta)


def residual_gain(alpha, depth: int, c=1.0):
    """E‖J v‖²/‖v‖² = (1 + c α²)^L for L residual blocks x + α W₂ ReLU(W₁ x) (S9).

    Derivation (exact at any width, W₁ ~ N(0, 2/n), W₂ ~ N(0, 1/n), v independent of the
    block's weights): J_l v = v + α W₂ D W₁ v. The cross term has mean 0 (W₂ is zero-mean
    and independent of D), and E‖W₂ D W₁ v‖² = E Σ_i 1{w_iᵀx > 0}(w_iᵀv)² = n·½·(2/n)‖v‖²
    = ‖v‖² because w_i → −w_i flips the mask but not (w_iᵀv)². Hence c = 1 and
    E‖J_l v‖² = (1 + α²)‖v‖² given the past; iterate. Since E_v‖Jv‖² = ‖J‖_F² = E_g‖Jᵀg‖²,
    it is also the growth of E‖∂L/∂x₀‖² for a random cotangent. α = 1: 2^L (explodes);
    α = 1/√L: (1 + 1/L)^L → e; plain stack (no identity): E gain = c^L = 1 (He-critical).

    Example:
      >>> residual_gain(1.0, 10)
      1024.0
    """
    if not isinstance(depth, int) or depth < 0:
        raise ValueError(f"depth: expected a non-negative int, got {depth!r}.")
    return (1.0 + c * alpha**2) ** depth


def standardized_expectation(f, n: int, nodes: int = 400):
    """E f(â₁) for â = (z − z̄)/‖z − z̄‖·√n, z ~ N(0, I_n): one coordinate of an exactly
    standardised Gaussian sample (what LayerNorm outputs for Gaussian pre-activations).

    â₁²/(n − 1) ~ Beta(½, (n − 2)/2) (the internally studentised residual), so with
    â₁ = √(n−1) sin θ the density is ∝ cos^{n−3} θ on (−π/2, π/2). Gauss–Legendre in θ.
    As n → ∞ this tends to E f(z), z ~ N(0, 1); the difference is O(1/n).

    Example:
      >>> round(float(standardized_expectation(lambda t: t**2, 10)), 6)   # Σ â² = n exactly
      1.0
    """
    if not isinstance(n, int) or n < 3:
        raise ValueError(f"n: expected an int ≥ 3 (sample size), got {n!r}.")
    x, w = np.polynomial.legendre.leggauss(nodes)
    th = 0.5 * np.pi * x
    dens = w * np.cos(th) ** (n - 3)
    vals = np.asarray(f(jnp.asarray(math.sqrt(n - 1) * np.sin(th))), np.float64)
    return float(np.sum(dens * vals) / np.sum(dens))


def saturation_derivative(act, q):
    """E[φ'(h)], h ~ N(0, q): the mean derivative of units at pre-activation variance q (S10)."""
    a = as_activation(act)
    return float(gauss_expectation(a.deriv, q))


def bn_gradient_rate(act):
    """Per-layer growth of ‖∂L/∂x_l‖² in a BatchNorm MLP at initialisation, large batch
    and width (L6; Yang et al. 2019, "A mean field theory of batch normalization", ICLR):

        λ = E[φ'(z)²] / Var[φ(z)],   z ~ N(0, 1).

    Mean-field derivation: after BN each unit's batch of pre-activations is standardised,
    so the next layer's pre-activation scale is s² = σ_w²·Var φ(z); backprop through
    W and BN multiplies ‖g‖² by σ_w²·E φ'² / s² (the BN projection removes only 2 of B
    directions). σ_w cancels: BN cannot be tuned out of it. ReLU: (1/2)/((π−1)/(2π)) =
    π/(π − 1) ≈ 1.4669 per layer for the *squared* norm (√ of it for the norm).

    Example:
      >>> round(bn_gradient_rate("relu"), 6) == round(math.pi / (math.pi - 1), 6)
      True
    """
    a = as_activation(act)
    m2 = float(gauss_expectation(lambda h: a.deriv(h) ** 2, 1.0))
    mean = float(gauss_expectation(a.fn, 1.0))
    var = float(gauss_expectation(lambda h: a.fn(h) ** 2, 1.0)) - mean**2
    return m2 / var


_BOUNDS = {"sigmoid": 0.25, "tanh": 1.0, "relu": 1.0, "linear": 1.0, "hard_tanh": 1.0, "erf": 2.0 / math.sqrt(math.pi)}


def derivative_bound(act) -> float:
    """sup_a |φ'(a)| (S1/S11): sigmoid 1/4, tanh 1, ReLU 1, leaky/PReLU max(1, |α|),
    ELU max(1, α), erf 2/√π; GELU/SiLU from their stationary points (≈1.129, ≈1.100)."""
    a = as_activation(act)
    base = a.name.split("(")[0]
    return _BOUNDS.get(base, a.deriv_bound)


def negative_side_derivative(act, a_neg):
    """φ'(a) for a < 0 in closed form (S11): ReLU 0; leaky ReLU/PReLU α (constant);
    ELU α·e^{a} → 0 as a → −∞ (ELU saturates on the negative side)."""
    a = as_activation(act)
    base = a.name.split("(")[0]
    p = float(a.name.split("(")[1].rstrip(")")) if "(" in a.name else None
    a_neg = np.asarray(a_neg, np.float64)
    if base == "relu":
        return np.zeros_like(a_neg)
    if base in ("leaky_relu", "prelu"):
        return np.full_like(a_neg, p)
    if base == "elu":
        return p * np.exp(a_neg)
    raise ValueError(f"act: closed form only for relu, leaky_relu, prelu, elu; got {a.name!r}.")


def dying_relu_probability(widths) -> float:
    """P(a bias-free ReLU network outputs exactly 0 at a fixed input x ≠ 0) (S11; Lu et al.
    2019, "Dying ReLU and initialization").

    Given a non-zero layer input, the n_l units are independently dead with probability ½
    (w_iᵀx is symmetric and continuous), so the layer is all-dead w.p. 2^{−n_l}; once all
    dead, every later layer is 0. Hence P(dead) = 1 − Π_{l=1}^{L} (1 − 2^{−n_l}).

    Args:
      widths: hidden widths [n_1, ..., n_L] (positive ints).

    Example:
      >>> round(dying_relu_probability([2] * 10), 4)
      0.9437
    """
    ws = list(widths)
    if not ws or any(not isinstance(w, int) or w < 1 for w in ws):
        raise ValueError(f"widths: expected a non-empty list of positive ints, got {widths!r}.")
    return 1.0 - math.prod(1.0 - 2.0**-w for w in ws)


def euler_amplification(h, lam, steps: int):
    """|1 + hλ|^k: how explicit Euler (and backprop through it) amplifies a perturbation
    over k steps of y' = λy (S16)."""
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps: expected a non-negative int, got {steps!r}.")
    return abs(1.0 + h * lam) ** steps


def barren_plateau_variance(n_qubits: int, generator_sq_trace=None, observable_sq_trace=None):
    """Var[∂E/∂θ] when the circuits before and after the gate are unitary 2-designs (L9;
    McClean et al. 2018, Nat. Commun. 9, 4812).

    With A = i[G, H̃], H̃ = U₊†HU₊, |ψ⟩ Haar: E⟨ψ|A|ψ⟩² = tr A²/(N(N+1)); Haar U₊ and
    traceless G, H give E tr A² = 2 tr G² tr H² · N/(N² − 1) (Weingarten), so

        Var = 2 tr(G²) tr(H²) / ((N² − 1)(N + 1)),  N = 2ⁿ.

    Defaults: G = P/2 (tr G² = N/4), H a Pauli string (tr H² = N): Var = N²/(2(N+1)(N²−1))
    ≈ 2^{−(n+1)}.

    Example:
      >>> round(barren_plateau_variance(1), 6)   # 4/(2·3·3)
      0.222222
    """
    if not isinstance(n_qubits, int) or n_qubits < 1:
        raise ValueError(f"n_qubits: expected a positive int, got {n_qubits!r}.")
    N = 2.0**n_qubits
    g2 = N / 4.0 if generator_sq_trace is None else generator_sq_trace
    h2 = N if observable_sq_trace is None else observable_sq_trace
    return 2.0 * g2 * h2 / ((N * N - 1.0) * (N + 1.0))


def rank_collapse_exponent(variant: str = "pure") -> float:
    """Local exponent p in res(X_{l+1}) ∝ res(X_l)^p near collapse (L10; Dong et al. 2021).

    Pure attention: p = 3 (the row-independent part of softmax maps R to tokens-equal;
    the row-dependent part is O(‖R‖²)), hence res_L ~ c^{(3^L−1)/2} res_0^{3^L}. With a
    skip connection the identity carries R unchanged: p = 1 (no doubly exponential
    collapse). LayerNorm alone (no skip) keeps p = 3.
    """
    table = {"pure": 3.0, "ln": 3.0, "skip": 1.0, "skip_ln": 1.0}
    if variant not in table:
        raise ValueError(f"variant: unknown {variant!r}; expected one of {sorted(table)}.")
    return table[variant]


def attention_collapse_bound(res0, depth: int, c):
    """The shape of Dong et al.'s (2021) bound, res_L ≤ c^{(3^L − 1)/2} res_0^{3^L}; returns log10 of it."""
    if not isinstance(depth, int) or depth < 0:
        raise ValueError(f"depth: expected a non-negative int, got {depth!r}.")
    return (3.0**depth - 1.0) / 2.0 * math.log10(c) + 3.0**depth * math.log10(res0)


def underflow_step(dtype, factor: float = 0.1, subnormals: bool = True) -> int:
    """Deprecated alias of :func:`predicted_underflow_step` (the closed form).

    ``vg.underflow_step`` *measures* the step in a loop and returns an ``UnderflowStep``;
    this name predicted it and returned an int, so it was renamed. It warns and forwards.
    """
    warnings.warn(
        "vg.theory.underflow_step is deprecated: use vg.theory.predicted_underflow_step "
        "(the closed form; vg.underflow_step measures the step).",
        DeprecationWarning,
        stacklevel=2,
    )
    return predicted_underflow_step(dtype, factor, subnormals)
