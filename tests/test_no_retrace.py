"""A second eager call with the same shapes does not retrace (issue 14, "No retracing").

Each public entry point is guarded twice, as optax guards its transforms: a Python counter
incremented inside the user's function (it only runs while JAX traces) must not move on the
second call, and the wrapper's own ``trace_count()`` must not either. A wall-clock smoke
check (min of 3 warm calls ≤ 0.1 s, where the jitted call takes ≤ 10 ms) backs it up; the
eager-vs-jitted numbers are in ``benchmarks/bench_eager.py`` / RESULTS.md.
Numbers (σ, tolerances) are traced, so a sweep does not retrace; a new static argument or a
new function object does, once.
"""

from __future__ import annotations

import gc
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vgtheory as vg
from vgtheory._cache import cached

F32 = jnp.float32
KEY = jax.random.key(0)
N = 8
RNN = vg.init_rnn(KEY, N, gain=1.5, dtype=F32)
H0 = 0.1 * jnp.ones(N, F32)
CALLS = {"step": 0, "loss": 0, "act": 0}


def counting_step(params, h, x):
    CALLS["step"] += 1  # runs only while tracing
    return vg.rnn_step(params, h, x)


def _mlp_loss(params, x, y):
    CALLS["loss"] += 1
    h = x
    for w, b in params[:-1]:
        h = jnp.tanh(jnp.matmul(h, w, precision="highest") + b[None, :])
    w, b = params[-1]
    return 0.5 * jnp.mean((jnp.matmul(h, w, precision="highest") + b[None, :] - y) ** 2)


_kx, _ky, _kp = jax.random.split(KEY, 3)
_X = jax.random.normal(_kx, (16, 4), F32)
_Y = jax.random.normal(_ky, (16, 1), F32)
PARAMS = [
    (0.5 * jax.random.normal(k, (a, b), F32), jnp.zeros(b, F32))
    for k, a, b in zip(jax.random.split(_kp, 3), (4, 6, 5), (6, 5, 1))
]
LOSS = partial(_mlp_loss, x=_X, y=_Y)


def _tanh(h):
    CALLS["act"] += 1
    return jnp.tanh(h)


ACT = vg.Activation("counting_tanh", _tanh, vg.activation("tanh").deriv, 1.0)
MAT = jax.random.normal(KEY, (4, 12, 10), F32)

# name → (public function, call with (first, second) values of its traced arguments, counter)
CASES = {
    "bptt_gradient_norms": (
        vg.bptt_gradient_norms,
        lambda h: vg.bptt_gradient_norms(counting_step, RNN, h, steps=12),
        (H0, 2 * H0),
        "step",
    ),
    "lyapunov_spectrum": (
        vg.lyapunov_spectrum,
        lambda h: vg.lyapunov_spectrum(counting_step, RNN, h, steps=12, blocks=2),
        (H0, 2 * H0),
        "step",
    ),
    "hessian_eigh": (vg.hessian_eigh, lambda k: vg.hessian_eigh(LOSS, PARAMS, 2, k), (KEY, jax.random.key(1)), "loss"),
    "hessian_trace": (
        vg.hessian_trace,
        lambda k: vg.hessian_trace(LOSS, PARAMS, k, 9),
        (KEY, jax.random.key(1)),
        "loss",
    ),
    "theory.mean_field": (vg.theory.mean_field, lambda s: vg.theory.mean_field(ACT, s, 0.05), (1.5, 2.5), "act"),
    "singular_values": (vg.singular_values, lambda a: vg.singular_values(a, method="jacobi"), (MAT, 2 * MAT), None),
    "random_circuit_gradients": (
        vg.random_circuit_gradients,
        lambda k: vg.random_circuit_gradients(k, 3, 4, 8),
        (KEY, jax.random.key(1)),
        None,
    ),
}


def _traces(fn):
    return fn.trace_count() if hasattr(fn, "trace_count") else None


@pytest.mark.parametrize("name", sorted(CASES))
def test_second_eager_call_does_not_retrace(name):
    fn, call, (a1, a2), counter = CASES[name]
    # a cached entry point counts its own traces; otherwise (an owner's module-level jit) the
    # user's function must carry a counter
    assert hasattr(fn, "trace_count") or counter is not None, f"vg.{name}: nothing counts its traces"
    jax.block_until_ready(call(a1))  # first call: trace + compile (or a cache hit)
    before_fn, before_user = _traces(fn), CALLS.get(counter)
    ts = []
    for a in (a2, a1, a2):  # same shapes, other numbers
        t0 = time.perf_counter()
        jax.block_until_ready(call(a))
        ts.append(time.perf_counter() - t0)
    assert _traces(fn) == before_fn, f"{name}: the second eager call retraced"
    if counter is not None:
        assert CALLS[counter] == before_user, f"{name}: the user's function was traced again"
    # smoke: these workloads take ≤ 10 ms jitted; retracing cost 0.2–3 s per call before
    assert min(ts) <= 0.1, f"{name}: warm eager calls took {[round(t * 1e3, 1) for t in ts]} ms"


def test_numbers_are_traced_statics_are_not():
    mv = lambda v: jnp.arange(1.0, 7.0, dtype=F32) * v  # noqa: E731
    v0 = jnp.ones(6, F32)
    vg.lanczos_eigh(mv, v0, 2, num_iters=6, tol=1e-3)
    n = vg.lanczos_eigh.trace_count()
    for tol in (1e-4, 1e-2, 0.5):  # a traced number: no retrace
        vg.lanczos_eigh(mv, v0, 2, num_iters=6, tol=tol)
    assert vg.lanczos_eigh.trace_count() == n
    vg.lanczos_eigh(mv, v0, 3, num_iters=6, tol=1e-3)  # a new static k: one trace
    assert vg.lanczos_eigh.trace_count() == n + 1
    vg.lanczos_eigh(mv, jnp.ones(6, jnp.float64), 3, num_iters=6, tol=1e-3)  # a new dtype: one trace
    assert vg.lanczos_eigh.trace_count() == n + 2


def test_value_checks_still_run_on_cache_hits():
    mv = lambda v: 2.0 * v  # noqa: E731
    vg.lanczos_tridiag(mv, jnp.ones(5, F32), 3)
    with pytest.raises(ValueError, match="v0"):  # same shapes: a cache hit, but v0 = 0
        vg.lanczos_tridiag(mv, jnp.zeros(5, F32), 3)
    with pytest.raises(ValueError, match="tol"):
        vg.lanczos_eigh(mv, jnp.ones(5, F32), 2, num_iters=3, tol=float("nan"))
    with pytest.raises(ValueError, match="num_iters"):  # a trace-time check, raised again
        vg.lanczos_tridiag(mv, jnp.ones(5, F32), 9)
    with pytest.raises(ValueError, match="num_iters"):
        vg.lanczos_tridiag(mv, jnp.ones(5, F32), 9)
    with pytest.raises(ValueError, match="n_active"):
        vg.random_circuit_gradients(KEY, 3, 2, 4, n_active=5)


def test_cache_is_weak_in_functions_and_keys_bound_methods():
    @cached
    def apply(f, x, c):
        return c * f(x)

    f = lambda x: jnp.sin(x)  # noqa: E731
    apply(f, jnp.ones(3), 1.0)
    apply(f, jnp.ones(3), 2.0)
    assert apply.trace_count() == 1 and apply.cache_size() == 1
    apply(lambda x: jnp.sin(x), jnp.ones(3), 1.0)  # a new function object: a new program
    assert apply.trace_count() == 2
    del f
    gc.collect()
    assert apply.cache_size() == 0  # both functions gone: their programs are dropped

    class Model:
        def __call__(self, x):
            return 3.0 * x

        def apply(self, x):
            return 2.0 * x

    m = Model()
    apply(m.apply, jnp.ones(2), 1.0)
    apply(m.apply, jnp.ones(2), 1.0)  # a new bound-method object, the same program
    assert apply.trace_count() == 3
    del m
    gc.collect()
    assert apply.cache_size() == 0


def test_inside_user_transformations_runs_as_written():
    mv = lambda v: jnp.arange(1.0, 7.0, dtype=F32) * v  # noqa: E731
    f = lambda v0: vg.lanczos_eigh(mv, v0, 2, num_iters=6).values  # noqa: E731
    v0s = jnp.stack([jnp.ones(6, F32), jnp.linspace(0.5, 1.5, 6, dtype=F32)])
    got = jax.jit(jax.vmap(f))(v0s)
    np.testing.assert_allclose(np.asarray(got), [[6.0, 5.0]] * 2, rtol=1e-5)
    out = jax.jit(lambda v0: vg.lanczos_eigh(mv, v0, 2, num_iters=6))(v0s[0])
    assert out.num_matvecs == 6  # static results stay Python values on the eager path too
    assert vg.lanczos_eigh(mv, v0s[0], 2, num_iters=6).num_matvecs == 6


def test_partial_binds_data_as_traced_arguments():
    """A training loop: a new batch each step through functools.partial compiles once."""

    def loss(p, x):
        return jnp.sum((p * x) ** 2) + jnp.sum(p**4)

    p = jnp.ones(5, F32)
    n = vg.hessian_eigh.trace_count()
    vals = [
        float(vg.hessian_eigh(partial(loss, x=jnp.full(5, c, F32)), p, 1, KEY, num_iters=5).values[0])
        for c in (1.0, 2.0, 3.0)
    ]
    assert vg.hessian_eigh.trace_count() == n + 1
    np.testing.assert_allclose(vals, [14.0, 20.0, 30.0], rtol=1e-5)  # H = diag(2x² + 12p²): not stale


XB = jnp.ones(5, F32)
SCALE = 1.0


def _quartic(p, x):
    return jnp.sum((p * x) ** 2) + jnp.sum(p**4)


def test_new_lambda_per_step_over_arrays_compiles_once_and_is_never_stale():
    """``lambda q: loss(q, xb)`` written anew each step (a closure, or notebook globals)."""
    global XB, SCALE
    p = jnp.ones(5, F32)

    def step(xb):  # xb in the lambda's closure
        return float(vg.hessian_eigh(lambda q: _quartic(q, xb), p, 1, KEY, num_iters=5).values[0])

    n = vg.hessian_eigh.trace_count()
    got = [step(jnp.full(5, c, F32)) for c in (1.0, 2.0, 3.0)]
    assert vg.hessian_eigh.trace_count() == n + 1
    np.testing.assert_allclose(got, [14.0, 20.0, 30.0], rtol=1e-5)
    got = []
    for c, SCALE in ((1.0, 1.0), (2.0, 1.0), (2.0, 3.0)):  # module globals, as in a notebook loop
        XB = jnp.full(5, c, F32)
        got.append(float(vg.hessian_eigh(lambda q: SCALE * _quartic(q, XB), p, 1, KEY, num_iters=5).values[0]))
    np.testing.assert_allclose(got, [14.0, 20.0, 60.0], rtol=1e-5)  # a rebound global is never stale
    assert vg.hessian_eigh.trace_count() == n + 2


def test_function_needing_concrete_closure_falls_back():
    a, s = jnp.diag(jnp.arange(1.0, 7.0, dtype=F32)), jnp.asarray(2.0, F32)
    mv = lambda v: jnp.matmul(a, v, precision="highest") * float(s)  # noqa: E731  (needs s concrete)
    for _ in range(2):
        e = vg.lanczos_eigh(mv, jnp.ones(6, F32), 2, num_iters=6)
        np.testing.assert_allclose(np.asarray(e.values), [12.0, 10.0], rtol=1e-5)
    with pytest.raises(ValueError, match="num_iters"):  # a bad argument still names itself
        vg.lanczos_eigh(lambda v: jnp.matmul(a, v, precision="highest"), jnp.ones(6, F32), 2, num_iters=9)
