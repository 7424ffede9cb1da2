"""Landscape experiments: GD stability against 2/λ_max, Newton vs GD, sharpness, Adam's step.

Every experiment is a pure function of explicit inputs, with the learning rate traced (a
sweep over η never recompiles) and the iteration a ``lax.scan``:

* :func:`gd_quadratic` / :func:`direction_rate`: GD on ``½θᵀHθ`` and the measured per-step
  factor along a direction, to compare with |1 − ηλ| (seed S7).
* :func:`perturbation_rate`: the same near a minimum θ* of any loss: GD from θ* + εv
  minus GD from θ*, projected on v (cancels the residual gradient at θ*).
* :func:`newton_vs_gd`: lengths of Newton's step −H⁻¹g and of GD's −ηg.
* :func:`sharpness_trajectory`: full-batch training with an optax optimizer, λ_max of the
  Hessian tracked by warm-started Lanczos (edge of stability, Cohen et al. 2021).
* :func:`optimizer_steps`: per-parameter updates of an optax optimizer for a given gradient
  sequence (Adam's step vs gradient scale, seed S15).
* :func:`mlp_init`, :func:`mlp_forward`, :func:`regression_data`: the small tanh networks
  and synthetic regression sets these experiments train.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float

from ._hvp import check_same_tree, check_scalar_loss, dense_hessian, hessian_operator
from ._lanczos import lanczos_eigh

_HI = jax.lax.Precision.HIGHEST
PyTree = Any


# --- small networks and data ---------------------------------------------------------


def mlp_init(key: Array, widths: tuple[int, ...], dtype=None) -> list[tuple[Array, Array]]:
    """Fan-in Gaussian init of a tanh MLP with a linear read-out: ``[(W, b), ...]``.

    W_l has entries N(0, 1/n_{l−1}) and shape ``[n_{l−1}, n_l]``; biases start at 0.
    """
    widths = tuple(widths)
    if len(widths) < 2 or any((not isinstance(w, int)) or w < 1 for w in widths):
        raise ValueError(f"widths: expected ≥ 2 positive ints, got {widths!r}.")
    dtype = jnp.zeros((), float).dtype if dtype is None else dtype
    keys = jax.random.split(key, len(widths) - 1)
    return [
        (jax.random.normal(k, (a, b), dtype) / float(np.sqrt(a)), jnp.zeros((b,), dtype))
        for k, a, b in zip(keys, widths[:-1], widths[1:])
    ]


def mlp_forward(params: list, x: Float[Array, "n d"]) -> Float[Array, "n o"]:
    """``tanh`` hidden layers, linear last layer."""
    for w, b in params[:-1]:
        x = jnp.tanh(jnp.matmul(x, w, precision=_HI) + b)
    w, b = params[-1]
    return jnp.matmul(x, w, precision=_HI) + b


def mse_loss(params: list, x: Float[Array, "n d"], y: Float[Array, "n o"]) -> Float[Array, ""]:
    """``½ mean_i ‖f(x_i) − y_i‖²`` (the Hessian scale Cohen et al. use for MSE)."""
    return 0.5 * jnp.mean(jnp.sum((mlp_forward(params, x) - y) ** 2, axis=-1))


def regression_data(key: Array, n: int, d_in: int, dtype=None):
    """Synthetic regression: x ~ N(0, I), y = sin(x·a) + ½cos(x·b) with fixed random a, b."""
    dtype = jnp.zeros((), float).dtype if dtype is None else dtype
    kx, ka, kb = jax.random.split(key, 3)
    x = jax.random.normal(kx, (n, d_in), dtype)
    a = jax.random.normal(ka, (d_in,), dtype)
    b = jax.random.normal(kb, (d_in,), dtype)
    y = jnp.sin(jnp.matmul(x, a, precision=_HI)) + 0.5 * jnp.cos(jnp.matmul(x, b, precision=_HI))
    return x, y[:, None]


def gd_train(loss_fn: Callable, params: PyTree, eta, num_steps: int):
    """Full-batch GD (``optax.sgd``) for ``num_steps``; returns ``(params, losses [T])``."""
    check_scalar_loss(loss_fn, params)
    opt = optax.sgd(eta)

    def step(carry, _):
        p, s = carry
        loss, g = jax.value_and_grad(loss_fn)(p)
        u, s = opt.update(g, s, p)
        return (optax.apply_updates(p, u), s), loss

    (params, _), losses = jax.lax.scan(step, (params, opt.init(params)), None, length=num_steps)
    return params, losses


class Minimum(NamedTuple):
    """A trained point θ* with its certificate: ‖∇L(θ*)‖ and the extreme Hessian eigenvalues."""

    params: PyTree
    loss: Float[Array, ""]
    grad_norm: Float[Array, ""]
    eig_min: Float[Array, ""]
    eig_max: Float[Array, ""]


def train_to_minimum(
    loss_fn: Callable, params: PyTree, eta, num_gd: int, num_newton: int = 40, max_step: float = 0.1
) -> Minimum:
    """Trains a small model to a local minimum: full-batch GD, then Levenberg–Marquardt.

    ``num_gd`` GD steps with rate ``eta`` bring θ near a minimum; ``num_newton`` damped
    Newton steps ``θ ← θ − (H + μ_t I)⁻¹ g`` with ``μ_t = 2 max(0, −λ_min) + 10^{-3−9t/T}``,
    each clipped to norm ``max_step`` (a trust region; dense H, so small models only), then
    converge quadratically to it. The returned
    certificate (gradient norm, λ_min ≥ −tolerance) says whether it is a minimum.
    """
    check_scalar_loss(loss_fn, params)
    params, _ = gd_train(loss_fn, params, eta, num_gd)
    flat, unravel = ravel_pytree(params)
    f = lambda z: loss_fn(unravel(z))

    def grad_hess(z):
        h = dense_hessian(f, z)
        return jax.grad(f)(z), h, jnp.linalg.eigvalsh(h)

    def lm(z, t):
        g, h, w = grad_hess(z)
        mu = 2.0 * jnp.maximum(0.0, -w[0]) + 10.0 ** (-3.0 - 9.0 * t / num_newton)
        step = jnp.linalg.solve(h + mu * jnp.eye(z.size, dtype=z.dtype), g)
        n = jnp.linalg.norm(step)
        return z - step * jnp.minimum(1.0, max_step / n), None

    flat, _ = jax.lax.scan(lm, flat, jnp.arange(num_newton, dtype=flat.dtype))
    g, _, w = grad_hess(flat)
    return Minimum(unravel(flat), f(flat), jnp.linalg.norm(g), w[0], w[-1])


# --- GD on a quadratic and near a minimum ------------------------------------------------


def gd_quadratic(
    hessian: Float[Array, "d d"], x0: Float[Array, " d"], eta, num_steps: int
) -> Float[Array, "t d"]:
    """GD iterates on ``L(x) = ½ xᵀHx``: ``x_{t+1} = x_t − η H x_t``; returns ``[T+1, d]``."""
    h = jnp.asarray(hessian)
    if h.ndim != 2 or h.shape[0] != h.shape[1] or jnp.shape(x0) != h.shape[:1]:
        raise ValueError(f"hessian, x0: expected [d, d] and [d], got {h.shape} and {jnp.shape(x0)}.")

    def step(x, _):
        x = x - eta * jnp.matmul(h, x, precision=_HI)
        return x, x

    _, xs = jax.lax.scan(step, x0, None, length=num_steps)
    return jnp.concatenate([x0[None], xs])


def direction_rate(traj: Float[Array, "t d"], direction: Float[Array, " d"]) -> Float[Array, ""]:
    """Geometric-mean per-step factor ``|p_T/p_0|^{1/T}`` of the projection ``p_t = ⟨x_t, v⟩``."""
    p = jnp.matmul(traj, direction, precision=_HI)
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
    """
    check_scalar_loss(loss_fn, params)
    check_same_tree("direction", direction, params)
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


def newton_vs_gd(loss_fn: Callable, params: PyTree, eta) -> NewtonGD:
    """Newton's step −H⁻¹g against GD's −ηg at ``params`` (small models; dense H)."""
    h = dense_hessian(loss_fn, params)
    g = ravel_pytree(jax.grad(loss_fn)(params))[0]
    dn = -jnp.linalg.solve(h, g)
    gn = jnp.linalg.norm(g)
    curv = jnp.vdot(g, jnp.matmul(h, g, precision=_HI), precision=_HI) / gn**2
    return NewtonGD(jnp.linalg.norm(dn), eta * gn, jnp.linalg.norm(dn) / (eta * gn), curv)


# --- sharpness during training (edge of stability) -----------------------------------------


class SharpnessTrajectory(NamedTuple):
    """Losses every step and λ_max every ``every`` steps during training."""

    losses: Float[Array, " t"]
    sharpness: Float[Array, " s"]
    steps: Float[Array, " s"]


def sharpness_trajectory(
    loss_fn: Callable,
    params: PyTree,
    optimizer: optax.GradientTransformation,
    num_steps: int,
    every: int,
    key: Array,
    lanczos_iters: int = 12,
) -> SharpnessTrajectory:
    """Trains with ``optimizer`` (full batch) and tracks λ_max(H) every ``every`` steps.

    λ_max is the largest Ritz value of ``lanczos_iters`` Lanczos steps started from the
    previous top eigenvector plus a small random kick (warm start: few matvecs suffice
    because the top eigenvector moves slowly).

    Args:
      loss_fn: ``loss_fn(params) -> scalar`` on the full batch.
      params: initial parameters.
      optimizer: e.g. ``optax.sgd(eta)``.
      num_steps: total steps; must be a multiple of ``every``.
      every: steps between sharpness measurements.
      key: PRNG key for the Lanczos start vectors.
      lanczos_iters: Krylov dimension per measurement.

    Returns:
      :class:`SharpnessTrajectory` (``sharpness[i]`` is measured after ``steps[i]`` steps).
    """
    check_scalar_loss(loss_fn, params)
    if not (isinstance(every, int) and isinstance(num_steps, int) and every >= 1
            and num_steps >= every and num_steps % every == 0):
        raise ValueError(
            f"num_steps, every: expected positive ints with num_steps a multiple of every, "
            f"got {num_steps!r}, {every!r}."
        )
    d = ravel_pytree(params)[0].size
    m = min(lanczos_iters, d)
    dtype = ravel_pytree(params)[0].dtype

    def train(c, _):
        p, s = c
        loss, g = jax.value_and_grad(loss_fn)(p)
        u, s = optimizer.update(g, s, p)
        return (optax.apply_updates(p, u), s), loss

    def block(c, k):
        p, s, v = c
        (p, s), losses = jax.lax.scan(train, (p, s), None, length=every)
        op = hessian_operator(loss_fn, p)
        v0 = v + 0.1 * jax.random.normal(k, (d,), dtype) / float(np.sqrt(d))
        e = lanczos_eigh(op.matvec, v0, 1, which="largest", num_iters=m)
        return (p, s, e.vectors[0]), (losses, e.values[0])

    v0 = jax.random.normal(key, (d,), dtype)
    keys = jax.random.split(key, num_steps // every)
    _, (losses, sharp) = jax.lax.scan(block, (params, optimizer.init(params), v0), keys)
    steps = jnp.arange(1, num_steps // every + 1) * every
    return SharpnessTrajectory(losses.reshape(-1), sharp.astype(dtype), steps)


# --- optimizer steps against gradient scale ---------------------------------------------------


def optimizer_steps(
    optimizer: optax.GradientTransformation, grads: Float[Array, "t d"], params0: Float[Array, " d"]
) -> Float[Array, "t d"]:
    """The updates Δθ_t an optax optimizer makes when fed the gradient sequence ``grads``."""
    g = jnp.asarray(grads)
    if g.ndim != 2 or g.shape[1:] != jnp.shape(params0):
        raise ValueError(
            f"grads: expected shape [T, {jnp.shape(params0)[0] if jnp.ndim(params0) else '?'}], "
            f"got {g.shape}."
        )

    def step(c, gt):
        p, s = c
        u, s = optimizer.update(gt, s, p)
        return (optax.apply_updates(p, u), s), u

    _, us = jax.lax.scan(step, (params0, optimizer.init(params0)), g)
    return us
