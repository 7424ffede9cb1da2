"""Closed forms for Lyapunov exponents and gradients through time (L3, L7, S6, S17).

* L3 (Newman 1986): for a product of i.i.d. N×N matrices with entries N(0, σ²/N), the QR
  factor of one Gaussian matrix has independent R_ii² ~ (σ²/N)·χ²_{N−i+1}, and the frame of
  the product is Haar-distributed at every step, so λ_i = E log R_ii exactly:
  λ_i = ½[log(2σ²/N) + ψ((N−i+1)/2)], i = 1..N (E log χ²_ν = log 2 + ψ(ν/2)).
  Their sum is E log|det W| per factor.
* L7 (discrete-time mean field): h_{t+1} = φ(g W h_t), W_ij ~ N(0, 1/N). The pre-activation
  variance obeys q ↦ g² E[φ(√q z)²] with fixed point q*; a perturbation's squared norm is
  multiplied per step by χ = g² E[φ'(√q* z)²], so λ_max = ½ log χ. For tanh, q* = 0 and
  λ_max = log g below g = 1; q* > 0 and χ > 1 above: the sign changes at g = 1.
* S6: ‖∂L/∂h_t‖ ≤ (σ_max(W) γ)^{T−t} ‖∂L/∂h_T‖ with γ = sup|φ'|, in log form.
* S17: along the LSTM cell path ∂c_t/∂c_{t−1} = diag(f_t), so the per-step log decay of
  that path is E log σ(b_f + a) with a the forget gate's pre-activation without bias.

References:
  Newman (1986), "The distribution of Lyapunov exponents: exact results for random
  matrices", Commun. Math. Phys. 103, 121–126.
  Sompolinsky, Crisanti & Sommers (1988), Phys. Rev. Lett. 61, 259; discrete-time analogue
  e.g. Molgedey, Schuchhardt & Schuster (1992), Phys. Rev. Lett. 69, 3717.
  Pascanu, Mikolov & Bengio (2013), "On the difficulty of training RNNs" (S6 bound).
  Gers, Schmidhuber & Cummins (2000), "Learning to forget" (S17).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.scipy.special import digamma
from jaxtyping import Array, Float

from ._meanfield import chi1, gauss_expectation, qstar
from .._numerics import float_dtype


def gaussian_product_exponents(n: int, sigma2=1.0, dtype=jnp.float32) -> Float[Array, " n"]:
    """Newman's exponents λ_i = ½[log(2σ²/n) + ψ((n−i+1)/2)], i = 1..n, for N(0, σ²/n) entries.

    Example:
      >>> float(gaussian_product_exponents(1, 1.0)[0])   # E log|z|, z ~ N(0,1)
      -0.6351814...
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected a Python int ≥ 1, got {n!r}.")
    s = jnp.asarray(sigma2, dtype)
    i = jnp.arange(1, n + 1, dtype=dtype)
    return 0.5 * (jnp.log(2.0 * s / n) + digamma((n - i + 1) / 2.0))


def rnn_mean_field_exponent(gain, act="tanh", sigma_b2=0.0):
    """λ_max = ½ log(g² E[φ'(√q* z)²]) for h_{t+1} = φ(g W h_t + b), W_ij ~ N(0, 1/N).

    q* is the fixed point of q ↦ g² E[φ(√q z)²] + σ_b² (iterated from q = 1; slow, but
    exact in the limit, next to g = 1). Mean field: N → ∞, weights treated as fresh
    each step (annealed), which is exact for λ_max of the tied-weight RNN at large N.
    """
    g2 = jnp.asarray(gain, float_dtype()) ** 2
    q = qstar(act, g2, sigma_b2)
    return 0.5 * jnp.log(chi1(act, g2, q))


def s6_log_bound(sigma_max, gamma, lag):
    """log of (σ_max(W) γ)^{T−t}: the S6 bound on log(‖∂L/∂h_t‖/‖∂L/∂h_T‖) at lag T−t."""
    return jnp.asarray(lag) * jnp.log(jnp.asarray(sigma_max) * jnp.asarray(gamma))


def lstm_forget_log_rate(forget_bias, preact_var):
    """E_z log σ(b_f + √v z): per-step log decay of the LSTM cell path (S17)."""
    b = jnp.asarray(forget_bias, float_dtype())
    return gauss_expectation(lambda a: -jnp.logaddexp(0.0, -(b + a)), preact_var)
