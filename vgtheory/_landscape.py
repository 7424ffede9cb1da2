"""Training experiments: small networks trained to a minimum, sharpness, Adam's step.

Every experiment is a pure function of explicit inputs, with the learning rate traced (a
sweep over η never recompiles) and the iteration a ``lax.scan``:

* :func:`mlp_init`, :func:`mlp_forward`, :func:`regression_data`: the small tanh networks
  and synthetic regression sets these experiments train.
* :func:`gd_train`, :func:`train_to_minimum`: full-batch GD, then damped Newton to a
  certified local minimum (the start of :mod:`._gd_stability`'s perturbation rates).
* :func:`sharpness_trajectory`: full-batch training with an optax optimizer, λ_max of the
  Hessian tracked by warm-started Lanczos (edge of stability, Cohen et al. 2021).
* :func:`optimizer_steps`: per-parameter updates of an optax optimizer for a given gradient
  sequence (Adam's step vs gradient scale, seed S15).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, cast

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float

from ._checks import check_int, check_real_or_int, check_scalar
from ._hvp import check_scalar_loss, dense_hessian, hessian_operator
from ._lanczos import lanczos_eigh
from ._numerics import HIGHEST as _HI, float_dtype

PyTree = Any


def _check_optimizer(optimizer) -> None:
    if not (callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None))):
        raise TypeError(
            f"optimizer: expected an optax.GradientTransformation (with init and update), got {optimizer!r:.80}."
        )


# --- small networks and data ---------------------------------------------------------


def mlp_init(key: Array, widths: tuple[int, ...], dtype=None) -> list[tuple[Array, Array]]:
    """Fan-in Gaussian init of a tanh MLP with a linear read-out: ``[(W, b), ...]``.

    W_l has entries N(0, 1/n_{l−1}) and shape ``[n_{l−1}, n_l]``; biases start at 0.
    """
    widths = tuple(widths)
    if len(widths) < 2 or any((not isinstance(w, int)) or w < 1 for w in widths):
        raise ValueError(f"widths: expected ≥ 2 positive ints, got {widths!r}.")
    dtype = float_dtype() if dtype is None else dtype
    keys = jax.random.split(key, len(widths) - 1)
    return [
        (jax.random.normal(k, (a, b), dtype) / float(np.sqrt(a)), jnp.zeros((b,), dtype))
        for k, a, b in zip(keys, widths[:-1], widths[1:])
    ]


def mlp_forward(params: list, x: Float[Array, "n d"]) -> Float[Array, "n o"]:
    """``tanh`` hidden layers, linear last layer."""
    for w, b in params[:-1]:
        x = jnp.tanh(_affine(x, w, b))
    w, b = params[-1]
    return _affine(x, w, b)


def _affine(x, w, b):
    h = jnp.matmul(x, w, precision=_HI)
    return h + jnp.broadcast_to(b, h.shape)  # bias [o] onto [n, o] (or [o] for one input)


def mse_loss(params: list, x: Float[Array, "n d"], y: Float[Array, "n o"]) -> Float[Array, ""]:
    """``½ mean_i ‖f(x_i) − y_i‖²`` (the Hessian scale Cohen et al. use for MSE)."""
    return 0.5 * jnp.mean(jnp.sum((mlp_forward(params, x) - y) ** 2, axis=-1))


def regression_data(key: Array, n: int, d_in: int, dtype=None):
    """Synthetic regression: x ~ N(0, I), y = sin(x·a) + ½cos(x·b) with fixed random a, b."""
    dtype = float_dtype() if dtype is None else dtype
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
    num_steps = check_int("num_steps", num_steps)
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
    num_gd = check_int("num_gd", num_gd, 0)
    num_newton = check_int("num_newton", num_newton, 0)
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
    num_steps, every = check_int("num_steps", num_steps), check_int("every", every)
    lanczos_iters = check_int("lanczos_iters", lanczos_iters)
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
    check_real_or_int("grads", g)
    check_real_or_int("params0", params0)
    if g.ndim != 2:
        raise ValueError(f"grads: expected shape [T, d], got {g.shape}.")
    if params0.ndim != 1:
        raise ValueError(f"params0: expected shape [d], got {params0.shape}.")
    if g.shape[1] != params0.shape[0]:
        raise ValueError(
            f"params0, grads: params0 of shape {params0.shape} does not match grads of shape "
            f"{g.shape} (expected [d] and [T, d])."
        )
    dt = float_dtype(g, params0)  # integers are promoted; float dtypes are kept as given
    g, params0 = (a if jnp.issubdtype(a.dtype, jnp.floating) else a.astype(dt) for a in (g, params0))

    def step(c, gt):
        p, s = c
        u, s = optimizer.update(gt, s, p)
        return (optax.apply_updates(p, u), s), u

    _, us = jax.lax.scan(step, (params0, optimizer.init(params0)), g)
    return cast(Array, us)  # the updates of an array params0 are arrays
