"""Explicit Euler's global error obeys the backpropagation recursion (seed S16).

For y' = f(y) and the step y_{k+1} = Φ(y_k) = y_k + h f(y_k), the global error
e_k = y_k − y(t_k) of the numerical solution satisfies

    e_{k+1} = J_k e_k + τ_k,        J_k = ∂Φ/∂y = I + h ∂f/∂y,

(τ_k = Φ(y(t_k)) − y(t_{k+1}) the local error; exact for linear f), while backpropagation through the
same K steps multiplies a cotangent by the transposes of the same J_k:
δ_k = J_kᵀ δ_{k+1}. Hence e_K = Σ_k (∂y_K/∂y_{k+1}) τ_k — local errors are amplified by
exactly the backpropagated sensitivities. For f(y) = λy, J = 1 + hλ and the amplification
over k steps is |1 + hλ|^k: it vanishes for |1+hλ| < 1 and explodes for |1+hλ| > 1
(explicit Euler is unstable for h > 2/|λ| when λ < 0).
"""

from __future__ import annotations

from functools import partial
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float

from ._checks import check_callable, check_int, check_real_or_int, check_scalar
from ._numerics import HIGHEST, float_dtype


class EulerErrors(NamedTuple):
    """Explicit Euler on a linear system y' = A y, with its errors and sensitivities.

    Attributes:
      ys: ``[K+1, d]`` numerical solution y_0..y_K.
      exact: ``[K+1, d]`` exact solution e^{A t_k} y_0.
      local: ``[K, d]`` local errors τ_k = Φ(y(t_k)) − y(t_{k+1}) (one step from the exact
        solution minus the exact solution), so e_{k+1} = J e_k + τ_k.
      global_error: ``[d]`` e_K = y_K − y(t_K).
      propagated: ``[d]`` Σ_k (∂y_K/∂y_{k+1}) τ_k with the Jacobians from autodiff.
      sensitivity: ``[d, d]`` ∂y_K/∂y_0 from autodiff through the scanned steps.
    """

    ys: Float[Array, "K1 d"]
    exact: Float[Array, "K1 d"]
    local: Float[Array, "K d"]
    global_error: Float[Array, " d"]
    propagated: Float[Array, " d"]
    sensitivity: Float[Array, "d d"]


def euler_flow(step_fn: Callable, y0: Float[Array, " d"], h, steps: int) -> Float[Array, "K1 d"]:
    """y_{k+1} = y_k + h f(y_k), k < ``steps``, scanned; returns ``[steps+1, d]``.

    Raises:
      TypeError: ``step_fn`` not callable, complex or non-numeric ``y0``.
      ValueError: ``steps`` < 1, a concrete ``h`` that is NaN or ±inf.
    """
    check_callable("step_fn", step_fn, "f(y) -> dy/dt")
    check_int("steps", steps)
    check_scalar("h", h)
    y0 = jnp.asarray(y0)
    check_real_or_int("y0", y0)
    y0 = y0.astype(float_dtype(y0))  # an integer start has exact float values

    def body(y, _):
        y1 = y + h * step_fn(y)
        return y1, y1

    _, ys = lax.scan(body, y0, None, length=steps)
    return jnp.concatenate([y0[None], ys])


def euler_errors(a: Float[ArrayLike, "d d"], y0: Float[ArrayLike, " d"], h, steps: int) -> EulerErrors:
    """Global error of explicit Euler on y' = A y against the backpropagated local errors.

    Args:
      a: ``[d, d]`` system matrix A.
      y0: ``[d]`` initial value.
      h: step size (traced).
      steps: K, number of steps (static).

    Returns:
      :class:`EulerErrors`; ``global_error == propagated`` up to rounding (exact for linear
      f), and ``sensitivity == (I + hA)^K``.

    Raises:
      ValueError: non-square ``a``, mismatched ``y0``, non-positive ``steps``, a concrete
        ``h`` that is NaN or ±inf.
      TypeError: complex or non-numeric ``a`` or ``y0``.

    Example:
      >>> import jax.numpy as jnp
      >>> r = euler_errors(jnp.array([[-1.0]]), jnp.array([1.0]), 0.5, 4)
      >>> round(float(r.sensitivity[0, 0]), 6)   # (1 + hλ)^K = 0.5^4
      0.0625
    """
    a, y0 = jnp.asarray(a), jnp.asarray(y0)
    check_real_or_int("a", a)
    check_real_or_int("y0", y0)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"a: expected a square [d, d] matrix, got shape {a.shape}.")
    if y0.shape != (a.shape[0],):
        raise ValueError(f"y0: expected shape ({a.shape[0]},), got {y0.shape}.")
    check_int("steps", steps)
    check_scalar("h", h)
    dt = jnp.result_type(a, y0, jnp.float32)
    a, y0, h = a.astype(dt), y0.astype(dt), jnp.asarray(h, dt)
    return _euler_errors(a, y0, h, steps)


@partial(jax.jit, static_argnums=3)
def _euler_errors(a, y0, h, steps):
    f = lambda y: jnp.dot(a, y, precision=HIGHEST)
    ys = euler_flow(f, y0, h, steps)
    flow = jax.scipy.linalg.expm(h * a)  # exact one-step flow e^{hA}, iterated

    def exact_step(y, _):
        y1 = jnp.dot(flow, y, precision=HIGHEST)
        return y1, y1

    exact = jnp.concatenate([y0[None], lax.scan(exact_step, y0, None, length=steps)[1]])
    local = exact[:-1] + h * jax.vmap(f)(exact[:-1]) - exact[1:]

    def tail(y, n_left):
        body = lambda i, z: z + h * f(z)
        return lax.fori_loop(0, n_left, body, y)

    def push(k):  # (∂y_K/∂y_{k+1}) τ_k by a jvp through the remaining K−k−1 steps
        return jax.jvp(lambda y: tail(y, steps - k - 1), (exact[k + 1],), (local[k],))[1]

    propagated = jnp.sum(jax.vmap(push)(jnp.arange(steps)), axis=0)
    sens = jax.jacfwd(lambda y: euler_flow(f, y, h, steps)[-1])(y0)
    return EulerErrors(ys, exact, local, ys[-1] - exact[-1], propagated, sens)
