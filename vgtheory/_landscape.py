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
from jaxtyping import Array, Bool, Float

from ._checks import check_scalar
from ._hvp import check_same_tree, check_scalar_loss, dense_hessian, hessian_operator
from ._lanczos import lanczos_eigh

_HI = jax.lax.Precision.HIGHEST
PyTree = Any


# --- argument checks (shapes and concrete values at trace time; traced values pass) --------


def _check_int(name: str, value, minimum: int = 1) -> int:
    """``value`` must be a Python/NumPy int ≥ ``minimum`` (a static count: steps, iterations)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int ≥ {minimum}, got {value!r:.80}.")
    if value < minimum:
        raise ValueError(f"{name}: expected an int ≥ {minimum}, got {value}.")
    return int(value)


def _concrete(x) -> np.ndarray | None:
    """NumPy value of ``x``, or None when it is traced (inside the caller's jit or vmap)."""
    try:
        return np.asarray(x)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
        return None


def _check_nonzero(name: str, tree) -> None:
    """A concrete direction (array or pytree) must not be zero (its normalisation is 0/0)."""
    leaves = [_concrete(x) for x in jax.tree_util.tree_leaves(tree)]
    if leaves and all(v is not None and not np.any(v != 0) for v in leaves):
        raise ValueError(f"{name}: expected a non-zero direction, got all zeros.")


def _float_dtype(*xs):
    """Common dtype of real arrays: floating stays (float32 in → float32 out), integers →
    the default float; complex or non-numeric arrays are refused by the caller's checks."""
    dt = jnp.result_type(*xs)
    return dt if jnp.issubdtype(dt, jnp.floating) else jnp.result_type(dt, float)


def _check_real_or_int(name: str, x) -> None:
    dt = jnp.result_type(x)
    if not (jnp.issubdtype(dt, jnp.floating) or jnp.issubdtype(dt, jnp.integer)):
        raise TypeError(f"{name}: expected a real (floating or integer) array, got dtype {dt}.")


def _check_optimizer(optimizer) -> None:
    if not (callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None))):
        raise TypeError(
            f"optimizer: expected an optax.GradientTransformation (with init and update), "
            f"got {optimizer!r:.80}."
        )


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
    """Full-batch GD (``optax.sgd``) for ``num_steps``; returns ``(params, losses [T])``.

    Raises:
      ValueError: ``num_steps`` < 1, a concrete ``eta`` that is not a positive finite number.
      TypeError: ``loss_fn`` not a scalar loss of ``params``.
    """
    check_scalar_loss(loss_fn, params)
    num_steps = _check_int("num_steps", num_steps)
    check_scalar("eta", eta, positive=True)
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

    Raises:
      ValueError: ``num_gd`` or ``num_newton`` negative, a concrete ``eta`` or ``max_step``
        that is not a positive finite number.
    """
    check_scalar_loss(loss_fn, params)
    num_gd = _check_int("num_gd", num_gd, 0)
    num_newton = _check_int("num_newton", num_newton, 0)
    check_scalar("eta", eta, positive=True)
    check_scalar("max_step", max_step, positive=True)
    if num_gd:
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
    """GD iterates on ``L(x) = ½ xᵀHx``: ``x_{t+1} = x_t − η H x_t``; returns ``[T+1, d]``.

    Integer ``hessian``/``x0`` are promoted to the default float; otherwise the dtype of
    ``hessian`` and ``x0`` is kept (``eta`` is cast to it).

    Raises:
      ValueError: ``hessian`` not square, ``x0`` not ``[d]``, ``num_steps`` < 1, a concrete
        ``eta`` that is not a positive finite number.
      TypeError: complex or non-numeric ``hessian`` or ``x0``.
    """
    h, x0 = jnp.asarray(hessian), jnp.asarray(x0)
    _check_real_or_int("hessian", h)
    _check_real_or_int("x0", x0)
    if h.ndim != 2 or h.shape[0] != h.shape[1] or x0.shape != h.shape[:1]:
        raise ValueError(f"hessian, x0: expected [d, d] and [d], got {h.shape} and {x0.shape}.")
    num_steps = _check_int("num_steps", num_steps)
    check_scalar("eta", eta, positive=True)
    dt = _float_dtype(h, x0)
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
        zero ``direction``, or concrete inputs with p_0 = 0 (the rate is undefined).
      TypeError: complex or non-numeric inputs.
    """
    _check_real_or_int("traj", traj)
    if jnp.ndim(traj) != 2 or jnp.shape(traj)[0] < 2:
        raise ValueError(f"traj: expected iterates [T+1, d] with T ≥ 1, got shape {jnp.shape(traj)}.")
    _check_real_or_int("direction", direction)
    if jnp.shape(direction) != jnp.shape(traj)[1:]:
        raise ValueError(f"direction: expected shape [{jnp.shape(traj)[1]}] (traj is [T+1, d]), "
                         f"got {jnp.shape(direction)}.")
    _check_nonzero("direction", direction)
    p = jnp.matmul(traj, direction, precision=_HI)
    p0 = _concrete(p[0])
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
      ValueError: ``direction`` not shaped like ``params`` or (concrete) zero,
        ``num_steps`` < 1, a concrete ``eta`` or ``eps`` that is not a positive finite number
        (traced ε = 0 or v = 0 inside the caller's jit give NaN: 0/0 has no rate).
      TypeError: ``loss_fn`` not a scalar loss, complex ``direction``.
    """
    check_scalar_loss(loss_fn, params)
    check_same_tree("direction", direction, params)
    for leaf in jax.tree_util.tree_leaves(direction):
        _check_real_or_int("direction", leaf)
    num_steps = _check_int("num_steps", num_steps)
    check_scalar("eta", eta, positive=True)
    check_scalar("eps", eps, positive=True)
    _check_nonzero("direction", direction)
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

    Raises:
      ValueError: ``num_steps``, ``every`` or ``lanczos_iters`` < 1, ``num_steps`` not a
        multiple of ``every``.
      TypeError: ``optimizer`` not an optax transformation, ``loss_fn`` not a scalar loss.
    """
    check_scalar_loss(loss_fn, params)
    _check_optimizer(optimizer)
    num_steps, every = _check_int("num_steps", num_steps), _check_int("every", every)
    lanczos_iters = _check_int("lanczos_iters", lanczos_iters)
    if num_steps % every:
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
    """The updates Δθ_t an optax optimizer makes when fed the gradient sequence ``grads``.

    Args:
      optimizer: an ``optax.GradientTransformation``.
      grads: ``[T, d]`` gradients fed at steps 1..T.
      params0: ``[d]`` starting parameters (integers are promoted to the grads' float dtype).

    Returns:
      ``[T, d]`` updates Δθ_t.

    Raises:
      ValueError: ``grads`` not ``[T, d]``, ``params0`` not ``[d]``.
      TypeError: complex or non-numeric arrays, ``optimizer`` not an optax transformation.
    """
    _check_optimizer(optimizer)
    g, params0 = jnp.asarray(grads), jnp.asarray(params0)
    _check_real_or_int("grads", g)
    _check_real_or_int("params0", params0)
    if g.ndim != 2:
        raise ValueError(f"grads: expected shape [T, d], got {g.shape}.")
    if params0.ndim != 1:
        raise ValueError(f"params0: expected shape [d], got {params0.shape}.")
    if g.shape[1] != params0.shape[0]:
        raise ValueError(
            f"params0, grads: params0 of shape {params0.shape} does not match grads of shape "
            f"{g.shape} (expected [d] and [T, d])."
        )
    dt = _float_dtype(g, params0)  # integers are promoted; float dtypes are kept as given
    g, params0 = (a if jnp.issubdtype(a.dtype, jnp.floating) else a.astype(dt) for a in (g, params0))

    def step(c, gt):
        p, s = c
        u, s = optimizer.update(gt, s, p)
        return (optax.apply_updates(p, u), s), u

    _, us = jax.lax.scan(step, (params0, optimizer.init(params0)), g)
    return us
