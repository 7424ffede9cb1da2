"""Jacobians four ways (jacfwd, jacrev, explicit D·W chain, finite differences) and gradient flow."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import vgtheory as vg

ACTS = ["tanh", "sigmoid", "relu", "leaky_relu", "elu", "gelu", "silu", "erf", "linear", "hard_tanh", "prelu"]


def _net(key, widths, act, s2=1.5, b2=0.1):
    kp, kx = jax.random.split(key)
    p = vg.init_mlp(kp, widths, sigma_w2=s2, sigma_b2=b2, dtype=jnp.float64)
    x = jax.random.normal(kx, (widths[0],), jnp.float64)
    return p, x


def _finite_differences(f, x, h=1e-6):
    eye = jnp.eye(x.shape[0], dtype=x.dtype)
    return jax.vmap(lambda e: (f(x + h * e) - f(x - h * e)) / (2 * h), out_axes=1)(eye)


@settings(max_examples=10, deadline=None)
@given(
    act=st.sampled_from(ACTS),
    depth=st.integers(1, 6),
    n=st.integers(2, 7),
    seed=st.integers(0, 2**16),
    equal=st.booleans(),
)
def test_jacobian_four_ways(act, depth, n, seed, equal):
    rng = np.random.default_rng(seed)
    widths = [n] * (depth + 1) if equal else [int(w) for w in rng.integers(2, 8, depth + 1)]
    p, x = _net(jax.random.key(seed), widths, act)
    f = lambda x: vg.mlp_apply(p, x, act)
    j_rev = jax.jit(lambda x: vg.input_jacobian(f, x, "rev"))(x)
    j_fwd = jax.jit(lambda x: vg.input_jacobian(f, x, "fwd"))(x)
    j_chain = jax.jit(lambda x: vg.mlp_jacobian(p, x, act))(x)
    j_tree = jax.jit(lambda x: vg.mlp_jacobian(p, x, act, order="tree"))(x)
    np.testing.assert_allclose(j_rev, j_fwd, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(j_chain, j_rev, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(j_tree, j_rev, rtol=1e-10, atol=1e-12)
    if act not in ("relu", "leaky_relu", "prelu", "hard_tanh", "elu"):  # kinks: FD only where smooth
        np.testing.assert_allclose(_finite_differences(f, x), j_rev, rtol=1e-5, atol=1e-7)


@settings(max_examples=15, deadline=None)
@given(length=st.integers(1, 17), n=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_chain_product_orders_match_numpy(length, n, seed):
    """Both orders equal the float64 NumPy product M_L ⋯ M_1 (later factors on the left)."""
    mats = np.random.default_rng(seed).normal(size=(length, n, n)) / np.sqrt(n)
    ref = np.eye(n)
    for m in mats:
        ref = m @ ref
    for order in ("sequential", "tree"):
        out = jax.jit(lambda m: vg.chain_product(m, order=order))(jnp.asarray(mats))
        np.testing.assert_allclose(out, ref, rtol=1e-11, atol=1e-12 * max(1.0, np.abs(ref).max()))


def test_jacobian_operator_matches_dense(key):
    p, x = _net(key, [5, 7, 4], "tanh")
    f = lambda x: vg.mlp_apply(p, x, "tanh")
    op = vg.jacobian_operator(f, x)
    J = vg.input_jacobian(f, x)
    v, u = jnp.arange(5.0), jnp.arange(4.0)
    np.testing.assert_allclose(op.mv(v), J @ v, rtol=1e-12)
    np.testing.assert_allclose(op.rmv(u), J.T @ u, rtol=1e-12)
    assert op.shape == (4, 5)


@pytest.mark.parametrize("widths", [[6] * 6, [5, 8, 3, 6]])
def test_gradient_flow_matches_autodiff(key, widths):
    act = "tanh"
    p, x = _net(key, widths, act)
    g = jax.random.normal(jax.random.fold_in(key, 1), (widths[-1],), jnp.float64)
    gf = jax.jit(vg.gradient_flow, static_argnums=2)(p, x, act, g)
    L = len(widths) - 1
    layers = list(zip(p.weights, p.biases)) if not p.stacked else [(p.weights[i], p.biases[i]) for i in range(L)]
    # reference: pull g back through layers l+1..L with jax.vjp, layer by layer
    xs = [x]
    for w, b in layers:
        xs.append(jnp.tanh(w @ xs[-1] + b))
    for l in range(L + 1):

        def tail(xl, l=l):
            for w, b in layers[l:]:
                xl = jnp.tanh(w @ xl + b)
            return xl

        gl = jax.vjp(tail, xs[l])[1](g)[0]
        np.testing.assert_allclose(gf.log_sq_norms[l], jnp.log(jnp.sum(gl**2)), rtol=1e-10, atol=1e-10)
    gw = jax.grad(lambda p: jnp.dot(vg.mlp_apply(p, x, act), g))(p)
    ref = [jnp.log(jnp.sum(w**2)) for w in (gw.weights if not p.stacked else list(gw.weights))]
    np.testing.assert_allclose(gf.weight_log_sq_norms, jnp.stack(ref), rtol=1e-10)
    assert bool(gf.finite)


def test_layer_jacobians_product_is_end_to_end(key):
    p, x = _net(key, [4] * 5, "gelu")
    js = vg.layer_jacobians(p, x, "gelu")
    J = js[0]
    for Jl in js[1:]:
        J = Jl @ J
    np.testing.assert_allclose(J, vg.input_jacobian(lambda x: vg.mlp_apply(p, x, "gelu"), x), rtol=1e-11)


def test_depth_10k_sigmoid_float32_matches_float64(key):
    """A depth-10^4 float32 sigmoid MLP gives finite log-norms within 1e-4 of float64."""
    L, n = 10_000, 16
    p32 = vg.init_mlp(key, [n] * (L + 1), sigma_w2=1.0, dtype=jnp.float32)
    x = jax.random.normal(jax.random.fold_in(key, 1), (n,))
    g = jax.random.normal(jax.random.fold_in(key, 2), (n,))
    run = jax.jit(vg.gradient_flow, static_argnums=2)
    gf32 = run(p32, x.astype(jnp.float32), "sigmoid", g.astype(jnp.float32))
    p64 = jax.tree.map(lambda a: a.astype(jnp.float64), p32)
    gf64 = run(p64, x.astype(jnp.float64), "sigmoid", g.astype(jnp.float64))
    assert gf32.log_sq_norms.dtype == jnp.float32 and bool(gf32.finite)
    # the plain product underflows: (1/4)^{2L} is far below float32's range
    assert float(gf64.log_sq_norms[0]) < -1e4
    ref = np.asarray(gf64.log_sq_norms)
    rel = np.abs(np.asarray(gf32.log_sq_norms, np.float64) - ref) / np.maximum(np.abs(ref), 1.0)
    assert rel.max() < 1e-4, rel.max()


def test_init_statistics_and_orthogonality(key):
    p = vg.init_mlp(key, [256] * 3, init="gaussian", sigma_w2=2.0, dtype=jnp.float64)
    var = float(jnp.var(p.weights)) * 256
    assert abs(var - 2.0) < 4 * 2.0 * np.sqrt(2 / p.weights.size)
    q = vg.init_mlp(key, [32] * 3, init="orthogonal", sigma_w2=4.0, dtype=jnp.float64)
    np.testing.assert_allclose(q.weights[0] @ q.weights[0].T, 4.0 * jnp.eye(32), atol=1e-12)
    i = vg.init_mlp(key, [32] * 3, init="identity", eps=0.0, dtype=jnp.float64)
    np.testing.assert_array_equal(i.weights[1], jnp.eye(32))
    x = vg.init_mlp(key, [300, 100], init="xavier", dtype=jnp.float64)
    assert abs(float(jnp.var(x.weights[0])) * 400 / 2 - 1) < 0.05


def test_sigma_is_traced_no_recompilation(key):
    traces = []

    @jax.jit
    def gain(s2):
        traces.append(1)
        p = vg.init_mlp(key, [8] * 5, sigma_w2=s2)
        return vg.gradient_flow(p, jnp.ones(8, jnp.float32), "tanh", jnp.ones(8, jnp.float32)).log_sq_norms[0]

    a, b = gain(jnp.float32(1.0)), gain(jnp.float32(2.0))
    assert len(traces) == 1 and float(a) != float(b)


def test_activation_derivatives_are_stable():
    for name in ["tanh", "sigmoid"]:
        a = vg.activation(name)
        assert float(a.deriv(jnp.float32(15.0))) > 0  # 1 − tanh² would be exactly 0 here
    xs = jnp.linspace(-6, 6, 1001, dtype=jnp.float64)
    for name in ACTS:
        a = vg.activation(name)
        ref = jax.vmap(jax.grad(a.fn))(xs)
        smooth = jnp.abs(xs) > 1e-3 if name not in ("hard_tanh",) else jnp.abs(jnp.abs(xs) - 1) > 1e-3
        np.testing.assert_allclose(a.deriv(xs)[smooth], ref[smooth], rtol=1e-10, atol=1e-12)
        assert float(jnp.max(jnp.abs(a.deriv(xs)))) <= a.deriv_bound + 1e-12


class _CNN(nn.Module):
    """Conv → relu → Conv → Dense(10) on an 8×8×3 image (issue 14's user model)."""

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(4, (3, 3))(x))
        x = nn.Conv(4, (3, 3))(x)
        return nn.Dense(10)(x.reshape(-1))


def _cnn(key):
    x = jax.random.normal(jax.random.fold_in(key, 1), (8, 8, 3), jnp.float64)
    v = jax.tree.map(lambda a: a.astype(jnp.float64), _CNN().init(key, x))
    return (lambda x: _CNN().apply(v, x)), x


def test_input_jacobian_of_a_linen_cnn_on_an_image(key):
    f, x = _cnn(key)
    ref = jax.jit(jax.jacrev(f))(x)
    for mode in ("rev", "fwd"):
        J = jax.jit(lambda x: vg.input_jacobian(f, x, mode))(x)
        assert J.shape == (10, 8, 8, 3) and J.dtype == jnp.float64
        np.testing.assert_allclose(J, ref, rtol=1e-12, atol=1e-14)
    assert float(jnp.max(jnp.abs(ref))) > 0


def test_input_jacobian_of_pytrees_matches_jacrev(key):
    f = lambda p: {
        "s": jnp.sum(jnp.sin(p["a"]) * p["b"][None, :, 0]),
        "v": jnp.tanh(jnp.matmul(p["a"], p["b"], precision="highest")),
    }
    p = {"a": jax.random.normal(key, (3, 2), jnp.float64), "b": jnp.ones((2, 4), jnp.float64)}
    J = vg.input_jacobian(f, p)
    ref = jax.jacrev(f)(p)
    assert jax.tree.structure(J) == jax.tree.structure(ref)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-13), J, ref)


def test_jacobian_operator_on_an_image_is_the_flattened_map(key):
    f, x = _cnn(key)
    op = vg.jacobian_operator(f, x)
    J = np.asarray(jax.jacrev(f)(x)).reshape(10, -1)  # independent: jacrev, reshaped by hand
    assert op.shape == (10, 192) and op.dtype == jnp.float64
    v = jax.random.normal(key, (192,), jnp.float64)
    u = jax.random.normal(key, (10,), jnp.float64)
    np.testing.assert_allclose(op.mv(v), J @ v, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(op.rmv(u), J.T @ u, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(op.as_matrix(), J, rtol=1e-12, atol=1e-14)
    s = np.linalg.svd(J, compute_uv=False)
    np.testing.assert_allclose(vg.singular_values(op, method="svd"), s, rtol=1e-10)
    np.testing.assert_allclose(vg.spectrum(op, method="svd").singular_values, s, rtol=1e-10)
    # a pytree-to-pytree map: the operator acts on ravel_pytree vectors
    g = lambda p: (p["a"] * 2.0, jnp.sum(p["w"] ** 2))
    q = {"a": jnp.ones(3), "w": jnp.arange(4.0).reshape(2, 2)}
    dense = np.zeros((4, 7))
    dense[:3, :3] = 2 * np.eye(3)
    dense[3, 3:] = 2 * np.arange(4.0)
    np.testing.assert_allclose(vg.jacobian_operator(g, q).as_matrix(), dense, rtol=1e-14)
