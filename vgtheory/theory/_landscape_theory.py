"""Closed forms for the loss landscape: GD stability, Newton's step, Adam, edge of stability.

Seed S7 (``seeds/000``, §"高原与峡谷"): gradient descent overshoots and diverges when
η > 2/λ_max; Newton's step −H⁻¹∇L enlarges steps on plateaus (small λ) and shrinks them
in ravines (large λ). Seed S15 (``seeds/001`` §6): momentum and Adam. L8: Cohen, Kaur,
Li, Kolter & Talwalkar, "Gradient descent on neural networks typically occurs at the
edge of stability", ICLR 2021.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float


def _positive(name, x):
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating) and not jnp.issubdtype(x.dtype, jnp.integer):
        raise TypeError(f"{name}: expected a real number, got dtype {x.dtype}.")
    return x


def gd_stability_threshold(lambda_max: ArrayLike) -> Float[Array, "..."]:
    """Largest stable GD learning rate on a quadratic, η* = 2/λ_max (seed S7).

    On ``L(θ) = ½ θᵀHθ``, GD is ``θ_{t+1} = (I − ηH)θ_t``; along eigenvector i the factor
    is ``1 − ηλ_i``, so the iteration converges iff ``|1 − ηλ_i| < 1`` for every λ_i > 0,
    i.e. η < 2/λ_max, and diverges (along the top direction) iff η > 2/λ_max.

    Example:
      >>> float(gd_stability_threshold(4.0))
      0.5
    """
    return 2.0 / _positive("lambda_max", lambda_max)


def gd_contraction(eta: ArrayLike, lam: ArrayLike) -> Float[Array, "..."]:
    """Per-step contraction factor |1 − ηλ| of GD along a Hessian eigenvector of eigenvalue λ.

    Exact on a quadratic; the linearisation of GD about a minimum otherwise.
    """
    return jnp.abs(1.0 - jnp.asarray(eta) * jnp.asarray(lam))


def gd_rate(eta: ArrayLike, eigenvalues: Float[ArrayLike, " d"]) -> Float[Array, ""]:
    """Asymptotic per-step rate of ‖θ_t‖ on a quadratic: ``max_i |1 − ηλ_i|``."""
    return jnp.max(gd_contraction(eta, jnp.asarray(eigenvalues)))


def newton_step(grad: Float[ArrayLike, " d"], hessian: Float[ArrayLike, "d d"]) -> Float[Array, " d"]:
    """Newton's step ``Δθ = −H⁻¹ ∇L`` (dense solve; H must be non-singular).

    Along eigenvector i of H the step is ``−g_i/λ_i``, i.e. GD's ``−η g_i`` times
    ``1/(ηλ_i)``: larger than GD's where curvature is small (plateau, ηλ < 1) and smaller
    where it is large (ravine, ηλ > 1).
    """
    h, g = jnp.asarray(hessian), jnp.asarray(grad)
    if h.ndim != 2 or h.shape[0] != h.shape[1] or g.shape != h.shape[:1]:
        raise ValueError(f"hessian, grad: expected [d, d] and [d], got {h.shape} and {g.shape}.")
    return -jnp.linalg.solve(h, g)


def newton_gd_ratio(eta: ArrayLike, lam: ArrayLike) -> Float[Array, "..."]:
    """Newton step over GD step along an eigen-direction of curvature λ > 0: ``1/(ηλ)``."""
    return 1.0 / (jnp.asarray(eta) * jnp.asarray(lam))


def adam_first_step(grad: ArrayLike, eta: ArrayLike, eps: ArrayLike = 1e-8) -> Float[Array, "..."]:
    """Adam's first update (with bias correction, Kingma & Ba 2015, Alg. 1).

    ``m̂₁ = g``, ``v̂₁ = g²`` so ``Δθ = −η g/(|g| + ε)``: magnitude η·|g|/(|g|+ε) → η for
    |g| ≫ ε, whatever the gradient's scale (seed S15).

    Example:
      >>> round(float(adam_first_step(1e-3, 0.1)), 5)
      -0.1
    """
    g = jnp.asarray(grad)
    return -jnp.asarray(eta) * g / (jnp.abs(g) + eps)


def adam_first_step_uncorrected(
    grad: ArrayLike, eta: ArrayLike, b1: float = 0.9, b2: float = 0.999, eps: ArrayLike = 1e-8
) -> Float[Array, "..."]:
    """The seed's Adam (no bias correction): ``Δθ₁ = −η (1−β₁) g / (√(1−β₂) |g| + ε)``.

    Still independent of the gradient's scale, but ≈ 3.16 η for the default β's, not η.
    """
    g = jnp.asarray(grad)
    return -jnp.asarray(eta) * (1 - b1) * g / (jnp.sqrt(1 - b2) * jnp.abs(g) + eps)


def momentum_step(grad: ArrayLike, eta: ArrayLike, beta: ArrayLike, t: int, ema: bool = False):
    """Update after ``t`` steps of constant gradient g with momentum β.

    Heavy ball (``v ← βv + g``, optax ``sgd(momentum=β)``): ``−η g (1 − βᵗ)/(1 − β)``;
    EMA form of the seed (``v ← βv + (1−β)g``): ``−η g (1 − βᵗ)``. Either way the step
    scales linearly with the gradient, unlike Adam's.
    """
    g, b = jnp.asarray(grad), jnp.asarray(beta)
    factor = (1 - b**t) if ema else (1 - b**t) / (1 - b)
    return -jnp.asarray(eta) * g * factor


def eos_sharpness(eta: ArrayLike) -> Float[Array, "..."]:
    """Edge-of-stability sharpness under full-batch GD: λ_max → 2/η (Cohen et al. 2021, §3)."""
    return 2.0 / _positive("eta", eta)
