"""GD stability against 2/λ_max and Newton vs GD: the per-step factor |1 − ηλ| measured.

Pure functions with the learning rate traced (a sweep over η never recompiles) and the
iteration a ``lax.scan``:

* :func:`gd_quadratic` / :func:`direction_rate`: GD on ``½θᵀHθ`` and the measured per-step
  factor along a direction, to compare with |1 − ηλ| (seed S7).
* :func:`perturbation_rate`: the same near a minimum θ* of any loss: GD from θ* + εv
  minus GD from θ*, projected on v (cancels the residual gradient at θ*).
* :func:`newton_vs_gd`: lengths of Newton's step −H⁻¹g and of GD's −ηg.

The minima these experiments start from come from :mod:`._landscape`
(:func:`train_to_minimum`).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, ArrayLike, Bool, Float, Real

from ._checks import check_int, check_nonzero, check_real_or_int, check_scalar, concrete
from ._hvp import check_scalar_loss, check_tangent, dense_hessian
from ._numerics import HIGHEST as _HI, float_dtype

PyTree = Any


# --- GD on a quadratic and near a minimum ------------------------------------------------


def gd_quadratic(
    hessian: Real[ArrayLike, "d d"], x0: Real[ArrayLike, " d"], eta, num_steps: int
) -> Float[Array, "t d"]:
    """GD iterates on ``L(x) = ½ xᵀHx``: ``x_{t+1} = x_t − η H x_t``; returns ``[T+1, d]``.

    Integer ``hessian``/``x0`` are promoted to the default float; otherwise the dtype of
    ``hessian`` and ``x0`` is kept (``eta`` is cast to it).

    Raises:
      ValueError: ``hessian`` not square, ``x0`` not ``[d]``, ``num_steps`` < 1, a concrete
        ``eta`` that is not a positive finite number.
      TypeError: complex or non-numeric ``hessian`` or ``x0``.
    """
    h, x0 = jnp.asarray(hessian), jnp.asarray(x0)
    check_real_or_int("hessian", h)
    check_real_or_int("x0", x0)
    if h.ndim != 2 or h.shape[0] != h.shape[1] or x0.shape != h.shape[:1]:
        raise ValueError(f"hessian, x0: expected [d, d] and [d], got {h.shape} and {x0.shape}.")
    num_steps = check_int("num_steps", num_steps)
    check_scalar("eta", eta, positive=True)
    dt = float_dtype(h, x0)
    h, x0, eta = h.astype(dt), x0.astype(dt), jnp.asarray(eta, dt)

    def step(x, _):
        x = x - eta * jnp.matmul(h, x, precision=_HI)
        return x, x

    _, xs = jax.lax.scan(step, x0, None, length=num_steps)
    return jnp.concatenate([x0[None], xs])


def direction_rate(traj: Float[Array, "t d"], direction: Float[Array, " d"]) -> Float[Array, ""]:
    """Geometric-mean per-step factor ``|p_T/p_0|^{1/T}`` of the projection ``p_t = ⟨x_t, v⟩``.

    Args:
      traj: ``[T+1, d]`` iterates x_0..x_T (T ≥ 1), e.g. from :func:`gd_quadratic`.
      direction: ``[d]`` non-zero direction v.

    Raises:
      ValueError: ``traj`` not ``[T+1, d]`` with T ≥ 1, ``direction`` not ``[d]``, a concrete
        zero or non-finite ``direction``, or concrete inputs with p_0 = 0 (the rate is undefined).
      TypeError: complex or non-numeric inputs.
    """
    check_real_or_int("traj", traj)
    if jnp.ndim(traj) != 2 or jnp.shape(traj)[0] < 2:
        raise ValueError(f"traj: expected iterates [T+1, d] with T ≥ 1, got shape {jnp.shape(traj)}.")
    check_real_or_int("direction", direction)
    if jnp.shape(direction) != jnp.shape(traj)[1:]:
        raise ValueError(
            f"direction: expected shape [{jnp.shape(traj)[1]}] (traj is [T+1, d]), got {jnp.shape(direction)}."
        )
    check_nonzero("direction", direction, what="direction", normalised=False)
    p = jnp.matmul(traj, direction, precision=_HI)
    p0 = concrete(p[0])
    if p0 is not None and p0 == 0:
        raise ValueError("traj: the start traj[0] is orthogonal to direction (p_0 = 0): no rate to measure.")
    t = traj.shape[0] - 1
    return jnp.exp((jnp.log(jnp.abs(p[-1])) - jnp.log(jnp.abs(p[0]))) / t)


def perturbation_rate(
    loss_fn: Callable, params: PyTree, direction: PyTree, eta, eps, num_steps: int
) -> Float[Array, ""]:
    """Measured per-step GD factor along ``direction`` near ``params`` (a minimum).

    Runs GD from θ* + ε v and from θ*, and returns ``|⟨Δ_T, v⟩/⟨Δ_0, v⟩|^{1/T}`` with
    ``Δ_t`` the difference of the two trajectories (this cancels the residual gradient at
    θ*). For an eigenvector v of H(θ*) with eigenvalue λ the linearisation predicts
    |1 − ηλ|; the nonlinear correction is O(ε).

    Raises:
      ValueError: ``direction`` not shaped like ``params`` or (concrete) zero or non-finite,
        ``num_steps`` < 1, a concrete ``eta`` or ``eps`` that is not a positive finite number
        (traced ε = 0 or v = 0 inside the caller's jit give NaN: 0/0 has no rate).
      TypeError: ``loss_fn`` not a scalar loss, complex ``direction``.
    """
    check_scalar_loss(loss_fn, params)
    check_tangent("direction", direction, params)
    num_steps = check_int("num_steps", num_steps)
    check_scalar("eta", eta, positive=True)
    check_scalar("eps", eps, positive=True)
    check_nonzero("direction", direction, what="direction", normalised=False)
    flat, unravel = ravel_pytree(params)
    v = ravel_pytree(direction)[0].astype(flat.dtype)
    v = v / jnp.linalg.norm(v)
    grad = lambda x: ravel_pytree(jax.grad(loss_fn)(unravel(x)))[0]

    def step(c, _):
        a, b = c
        return (a - eta * grad(a), b - eta * grad(b)), None

    (a, b), _ = jax.lax.scan(step, (flat + eps * v, flat), None, length=num_steps)
    p = jnp.vdot(a - b, v, precision=_HI)
    return jnp.exp((jnp.log(jnp.abs(p)) - jnp.log(jnp.abs(eps))) / num_steps)


# --- Newton vs GD -----------------------------------------------------------------------


class NewtonGD(NamedTuple):
    """Newton and GD steps at one point: lengths, their ratio, and the curvature seen."""

    newton_norm: Float[Array, ""]
    gd_norm: Float[Array, ""]
    ratio: Float[Array, ""]
    curvature: Float[Array, ""]  # Rayleigh quotient gᵀHg/gᵀg along the gradient
    finite: Bool[Array, ""]  # False at a stationary point (g = 0) or a singular H


def newton_vs_gd(loss_fn: Callable, params: PyTree, eta) -> NewtonGD:
    """Newton's step −H⁻¹g against GD's −ηg at ``params`` (small models; dense H).

    Raises:
      ValueError: a concrete ``eta`` that is not a positive finite number.
      TypeError: ``loss_fn`` not a scalar loss of ``params``.

    Returns:
      :class:`NewtonGD`; ``finite`` is False when a field is NaN/inf (g = 0: no direction
      to compare; singular H: no Newton step).
    """
    check_scalar("eta", eta, positive=True)
    h = dense_hessian(loss_fn, params)
    g = ravel_pytree(jax.grad(loss_fn)(params))[0]
    dn = -jnp.linalg.solve(h, g)
    gn = jnp.linalg.norm(g)
    curv = jnp.vdot(g, jnp.matmul(h, g, precision=_HI), precision=_HI) / gn**2
    out = (jnp.linalg.norm(dn), eta * gn, jnp.linalg.norm(dn) / (eta * gn), curv)
    return NewtonGD(*out, jnp.all(jnp.isfinite(jnp.stack(jnp.broadcast_arrays(*out)))))
