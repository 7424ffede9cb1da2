"""Residual networks, BatchNorm/LayerNorm MLPs and their closed forms (issue 6)."""

import math

import flax.linen as fnn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

import vgtheory as vg
from vgtheory._mlp import MLP
from vgtheory import theory as th

F64 = jnp.float64


# ------------------------------------------------------------------ residual
def test_resnet_log_gain_matches_dense_jacobian(key):
    n, L = 10, 5
    p = vg.init_resnet(key, n, L, dtype=F64)
    x, v = jax.random.normal(jax.random.fold_in(key, 1), (2, n), F64)
    for alpha, skip in ((0.7, True), (1.0, False)):
        gains = jax.jit(vg.resnet_log_gain, static_argnames="skip")(p, x, v, alpha, skip=skip)
        J = jax.jacfwd(lambda z: vg.resnet_apply(p, z, alpha, skip))(x)
        want = float(jnp.sum((J @ v) ** 2) / jnp.sum(v**2))  # may be 0: a plain ReLU stack can die
        assert gains.shape == (L + 1,) and float(gains[0]) == 0.0
        np.testing.assert_allclose(math.exp(float(gains[-1])), want, rtol=1e-10, atol=1e-300)


def test_stack_gradient_flow_matches_dense_vjp(key):
    n, L = 5, 4
    p = vg.init_resnet(key, n, L, dtype=F64)
    x, g = jax.random.normal(jax.random.fold_in(key, 2), (2, n), F64)
    block = lambda q, z: vg.residual_block(q, z, 0.5)
    logs = jax.jit(vg.stack_gradient_flow, static_argnums=0)(block, (p.w1, p.w2), x, g)
    J = jax.jacrev(lambda z: vg.resnet_apply(p, z, 0.5))(x)
    want = math.log(float(jnp.sum((J.T @ g) ** 2) / jnp.sum(g**2)))
    np.testing.assert_allclose(float(logs[0]), want, rtol=1e-10)
    assert float(logs[-1]) == 0.0


def test_residual_gain_exact_for_one_unit():
    """n = 1: E(1 + α w₂ 1{w₁x>0} w₁)² with w₁ ~ N(0,2), w₂ ~ N(0,1), by 2-D quadrature."""
    alpha = 0.8
    f = lambda w1, w2: (
        (1 + alpha * w2 * (w1 > 0) * w1) ** 2 * np.exp(-(w1**2) / 4 - w2**2 / 2) / (2 * math.pi * math.sqrt(2))
    )
    val, _ = integrate.dblquad(lambda w2, w1: f(w1, w2), 0, 40, -40, 40)
    val += integrate.dblquad(lambda w2, w1: f(w1, w2), -40, 0, -40, 40)[0]
    np.testing.assert_allclose(val, th.residual_gain(alpha, 1), rtol=1e-7)
    assert th.residual_gain(1.0, 10) == 1024.0


def test_resnet_bad_input(key):
    with pytest.raises(ValueError, match="width"):
        vg.init_resnet(key, -3, 2)
    with pytest.raises(ValueError, match="depth"):
        vg.init_resnet(key, 4, 0)
    with pytest.raises(ValueError, match="sigma_w2_1"):
        vg.init_resnet(key, 4, 2, sigma_w2_1=-1.0)
    p = vg.ResNet(jnp.ones((2, 4, 4)), jnp.ones((2, 4, 4)))
    with pytest.raises(ValueError, match="x"):
        vg.resnet_apply(p, jnp.ones(5))
    with pytest.raises(ValueError, match="v"):
        vg.resnet_log_gain(p, jnp.ones(4), jnp.ones(3))
    with pytest.raises(TypeError, match="params"):
        vg.resnet_apply((p.w1, p.w2), jnp.ones(4))
    with pytest.raises(ValueError, match="depth"):
        th.residual_gain(1.0, -1)


# ------------------------------------------------------------------ normalisation
def test_norms_match_flax(key):
    h = 3.0 + 2.0 * jax.random.normal(key, (7, 5), F64)
    bn = fnn.BatchNorm(
        use_running_average=False, use_bias=False, use_scale=False, epsilon=1e-5, dtype=F64, param_dtype=F64
    )
    want_bn, _ = bn.init_with_output(jax.random.key(0), h)
    want_bn = want_bn[0] if isinstance(want_bn, tuple) else want_bn
    np.testing.assert_allclose(jax.jit(vg.batch_norm)(h), want_bn, rtol=1e-6, atol=1e-7)
    ln = fnn.LayerNorm(use_bias=False, use_scale=False, epsilon=1e-5, dtype=F64, param_dtype=F64)
    want_ln, _ = ln.init_with_output(jax.random.key(0), h)
    np.testing.assert_allclose(jax.jit(vg.layer_norm)(h), want_ln, rtol=1e-6, atol=1e-7)
    assert vg.batch_norm(h.astype(jnp.float32)).dtype == jnp.float32


@settings(max_examples=15, deadline=None)
@given(st.floats(0.1, 50.0), st.floats(-20.0, 20.0), st.integers(0, 2**16))
def test_batch_norm_invariant_to_unit_affine(a, b, seed):
    h = jax.random.normal(jax.random.key(seed), (6, 3), F64)
    np.testing.assert_allclose(vg.batch_norm(a * h + b, eps=0.0), vg.batch_norm(h, eps=0.0), atol=1e-9)


def test_norm_mlp_gradient_flow_matches_dense(key):
    n, B, L = 4, 3, 3
    p = vg.init_mlp(key, [n] * (L + 1), dtype=F64)
    x, g = jax.random.normal(jax.random.fold_in(key, 1), (2, B, n), F64)
    for norm in ("batch", "layer"):
        logs = vg.norm_mlp_gradient_flow(p, x, "tanh", g, norm=norm)
        f = lambda z: jnp.sum(vg.norm_mlp_apply(p, z, "tanh", norm=norm).output * g)
        grad0 = jax.grad(f)(x)
        want = math.log(float(jnp.sum(grad0**2) / jnp.sum(g**2)))
        np.testing.assert_allclose(float(logs[0]), want, rtol=1e-9)
    fw = vg.norm_mlp_apply(p, x, "tanh", norm="batch")
    assert fw.preacts.shape == (L, B, n)
    np.testing.assert_allclose(jnp.mean(fw.preacts, axis=1), 0.0, atol=1e-12)


def test_bn_rate_and_width_ratio_closed_forms():
    assert abs(th.bn_gradient_rate("relu") - math.pi / (math.pi - 1)) < 1e-9
    for name in ("relu", "linear", "leaky_relu"):
        assert abs(th.width_ratio(name).ratio - 1.0) < 1e-9
    # tanh against scipy quadrature (independent of the Simpson rule used in vg.theory)
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    a = integrate.quad(lambda z: math.tanh(z) ** 2 * pdf(z), -np.inf, np.inf)[0]
    b = integrate.quad(lambda z: (1 - math.tanh(z) ** 2) ** 2 * pdf(z), -np.inf, np.inf)[0]
    wr = th.width_ratio("tanh")
    np.testing.assert_allclose([wr.alpha, wr.beta, wr.ratio], [a, b, a / b], rtol=1e-8)
    np.testing.assert_allclose(th.bn_gradient_rate("tanh"), b / a, rtol=1e-8)


def test_standardized_expectation_moments():
    for n in (4, 10, 64):
        assert abs(th.standardized_expectation(lambda t: t**2, n) - 1.0) < 1e-10
        # r²/(n−1) ~ Beta(½, (n−2)/2) ⇒ E r⁴ = 3(n−1)/(n+1)
        assert abs(th.standardized_expectation(lambda t: t**4, n) - 3 * (n - 1) / (n + 1)) < 1e-9


def test_norm_bad_input(key):
    with pytest.raises(ValueError, match="h"):
        vg.batch_norm(jnp.ones(4))
    with pytest.raises(ValueError, match="h"):
        vg.batch_norm(jnp.ones((1, 4)))
    with pytest.raises(ValueError, match="eps"):
        vg.layer_norm(jnp.ones((2, 4)), eps=-1.0)
    with pytest.raises(ValueError, match="h"):
        vg.layer_norm(jnp.ones((3, 1)))
    p = MLP(jnp.ones((2, 4, 4)), jnp.zeros((2, 4)))
    with pytest.raises(ValueError, match="norm"):
        vg.norm_mlp_apply(p, jnp.ones((3, 4)), "relu", norm="group")
    with pytest.raises(ValueError, match="x"):
        vg.norm_mlp_apply(p, jnp.ones((3, 5)), "relu")
    with pytest.raises(TypeError, match="params"):
        vg.norm_mlp_apply(
            MLP((jnp.ones((3, 4)), jnp.ones((4, 3))), (jnp.ones(3), jnp.ones(4))), jnp.ones((3, 4)), "relu"
        )
    with pytest.raises(ValueError, match="q"):
        th.width_ratio("tanh", q=-1.0)
    with pytest.raises(ValueError, match="n"):
        th.standardized_expectation(lambda t: t, 2)


# ------------------------------------------------------------------ flows: dead layers and rounding floors
def _relu_stack(dtype, dead=None, n=6, L=5):
    w = jax.random.normal(jax.random.key(11), (L, n, n), dtype) / math.sqrt(n)
    b = jnp.full((L, n), 0.1, dtype)  # layers above a dead one see x = 0: keep them alive
    if dead is not None:
        b = b.at[dead].set(-100.0)  # every unit of this layer off: an exactly zero Jacobian
    return MLP(w, b)


def _relu_block(p, z):
    return jax.nn.relu(jnp.matmul(p[0], z, precision="highest") + p[1])


def test_stack_gradient_flow_dead_relu_layer_is_minus_inf_not_nan():
    """Regression (issue 13): a dead ReLU layer gave NaN; now log −inf below it, flagged,
    exactly as vg.gradient_flow (commit 160ece9) on the same network."""
    n, L, dead = 6, 5, 2
    params = _relu_stack(F64, dead, n, L)
    x = jnp.linspace(-1.0, 1.0, n, dtype=F64)
    g = jnp.ones(n, F64) / math.sqrt(n)
    flow = jax.jit(vg.stack_gradient_flow, static_argnums=0, static_argnames="full_output")
    logs = np.asarray(flow(_relu_block, tuple(params), x, g))
    assert not np.isnan(logs).any()
    assert np.isneginf(logs[: dead + 1]).all() and np.isfinite(logs[dead + 1 :]).all()
    ref = np.asarray(vg.gradient_flow(params, x, "relu", g).log_sq_norms)
    np.testing.assert_array_equal(np.isneginf(ref), np.isneginf(logs))
    np.testing.assert_allclose(logs[dead + 1 :], ref[dead + 1 :], rtol=1e-12, atol=1e-12)
    full = flow(_relu_block, tuple(params), x, g, full_output=True)
    assert not bool(full.finite)
    assert np.asarray(full.resolved).tolist() == [False] * (dead + 1) + [True] * (L - dead)
    np.testing.assert_allclose(np.asarray(full.log_sq_norms), logs, rtol=1e-12, atol=1e-12)  # −inf at the same places
    # planted: the same network alive is finite, resolved everywhere and matches gradient_flow
    alive = _relu_stack(F64, None, n, L)
    full = flow(_relu_block, tuple(alive), x, g, full_output=True)
    assert bool(full.finite) and np.asarray(full.resolved).all()
    np.testing.assert_allclose(
        np.asarray(full.log_sq_norms),
        np.asarray(vg.gradient_flow(alive, x, "relu", g).log_sq_norms),
        rtol=1e-12,
        atol=1e-12,
    )


def test_stack_tangent_flow_dead_relu_layer():
    n, L, dead = 6, 5, 3
    params = _relu_stack(F64, dead, n, L)
    x = jnp.linspace(-1.0, 1.0, n, dtype=F64)
    full = vg.stack_tangent_flow(_relu_block, tuple(params), x, jnp.ones(n, F64), full_output=True)
    logs = np.asarray(full.log_sq_norms)
    assert not np.isnan(logs).any() and np.isneginf(logs[dead + 1 :]).all() and np.isfinite(logs[: dead + 1]).all()
    assert not bool(full.finite) and not np.asarray(full.resolved)[dead + 1 :].any()


def _null_pair(n, dtype):
    """Block 1 maps onto u, block 2 removes u: J₂J₁ = 0 exactly, computed as rounding."""
    u = np.ones(n) / np.sqrt(n)
    w = np.stack([3.0 * np.outer(u, u), np.eye(n) - np.outer(u, u), 2.0 * np.eye(n)])
    return jnp.asarray(w, dtype)


def _linear(p, z):
    return jnp.matmul(p, z, precision="highest")


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_flows_flag_gains_at_the_rounding_floor(dtype):
    n = 6
    w = _null_pair(n, dtype)
    x = jnp.ones(n, dtype)
    v = jnp.arange(1.0, n + 1.0, dtype=dtype)
    tf = jax.jit(vg.stack_tangent_flow, static_argnums=0, static_argnames="full_output")
    r = tf(_linear, w, x, v, full_output=True)
    assert np.asarray(r.resolved).tolist() == [True, True, False, False]
    assert bool(r.finite)  # rounding, not an exact zero: finite, but flagged
    lf = np.asarray(r.log_floor)
    assert np.all(np.asarray(r.log_sq_norms)[2:] <= lf[2:])
    # the bare array is the same flow; its unresolved (rounding) entries differ between programs
    np.testing.assert_allclose(np.asarray(tf(_linear, w, x, v))[:2], np.asarray(r.log_sq_norms)[:2], rtol=1e-5)
    # backward: g ← 2g, then (I − uuᵀ)g, then 3uuᵀg = 0 up to rounding (symmetric blocks)
    gf = jax.jit(vg.stack_gradient_flow, static_argnums=0, static_argnames="full_output")
    r = gf(_linear, w, x, v, full_output=True)
    assert np.asarray(r.resolved).tolist() == [False, True, True, True]
    assert float(r.log_sq_norms[0]) <= float(r.log_floor[0])
    # planted: a healthy twin (the second block keeps u) is resolved everywhere and exact
    w2 = w.at[1].set(jnp.eye(n, dtype=dtype))
    r = tf(_linear, w2, x, v, full_output=True)
    assert np.asarray(r.resolved).all()
    vn = np.asarray(v, np.float64) / np.linalg.norm(np.asarray(v, np.float64))
    want = [0.0, math.log(9 * (vn.sum() / math.sqrt(n)) ** 2)]
    want += [want[1], want[1] + math.log(4.0)]
    np.testing.assert_allclose(
        np.asarray(r.log_sq_norms, np.float64), want, rtol=1e-5 if dtype == jnp.float32 else 1e-12
    )


def test_deep_orthogonal_stack_flows_have_no_false_flags():
    n, L = 8, 1000
    q = np.linalg.qr(np.random.default_rng(4).standard_normal((L, n, n)))[0] * 1.01
    w = jnp.asarray(q, jnp.float32)
    x = jnp.ones(n, jnp.float32)
    for fn in (vg.stack_tangent_flow, vg.stack_gradient_flow):
        r = jax.jit(fn, static_argnums=0, static_argnames="full_output")(_linear, w, x, x, full_output=True)
        assert bool(r.finite) and np.asarray(r.resolved).all()
        logs = np.asarray(r.log_sq_norms, np.float64)
        np.testing.assert_allclose(np.abs(logs[-1] - logs[0]), 2 * L * math.log(1.01), rtol=1e-3)


def test_full_output_must_be_a_bool():
    w = _null_pair(4, F64)
    with pytest.raises(TypeError, match="full_output"):
        vg.stack_tangent_flow(_linear, w, jnp.ones(4, F64), jnp.ones(4, F64), full_output="yes")
    with pytest.raises(TypeError, match="full_output"):
        vg.stack_gradient_flow(_linear, w, jnp.ones(4, F64), jnp.ones(4, F64), full_output=1)
