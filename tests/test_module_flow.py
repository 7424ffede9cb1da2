"""module_gradient_flow on linen and nnx models and tapped JAX functions, against independent
references: jax.grad of the loss for the parameters, and the model split by hand (the tail
after a module, differentiated with jax.grad at that module's output) for the activations.
All in float64 (conftest enables x64), under jax.jit."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import vgtheory as vg

F64 = jnp.float64


def _f64(tree):
    return jax.tree.map(lambda a: a.astype(F64), tree)


def _log_sq(tree):
    return float(np.log(sum(np.sum(np.asarray(a, np.float64) ** 2) for a in jax.tree_util.tree_leaves(tree))))


def _half_sq(y):
    return 0.5 * jnp.sum(y**2)


def _check_params(r, grads, prefix=()):
    """Every parameter leaf's entry equals log‖jax.grad‖²."""
    flat = {
        "/".join(str(getattr(k, "key", getattr(k, "name", k))) for k in path): g
        for path, g in jax.tree_util.tree_flatten_with_path(grads)[0]
    }
    assert list(r.params) == list(flat)
    # a gradient that is zero in exact arithmetic (an attention key bias: softmax is shift
    # invariant) is rounding noise ~1e-16 of the largest: then only check it is noise too
    floor = max(_log_sq(g) for g in flat.values()) + math.log(1e-24)
    for name, g in flat.items():
        if _log_sq(g) < floor:
            assert float(r.params[name]) < floor + 10, name
            continue
        np.testing.assert_allclose(float(r.params[name]), _log_sq(g), rtol=1e-10, atol=1e-10, err_msg=name)


class CNN(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(4, (3, 3))(x))
        x = nn.relu(nn.Conv(4, (3, 3))(x))
        return nn.Dense(10)(x.reshape(-1))


@pytest.fixture
def cnn(key):
    x = jax.random.normal(jax.random.fold_in(key, 1), (8, 8, 3), F64)
    v = _f64(CNN().init(key, x))
    return CNN(), v, x


def test_linen_cnn_matches_grad_and_split(cnn):
    model, v, x = cnn
    r = jax.jit(lambda v, x: vg.module_gradient_flow(model, x, variables=v))(v, x)
    y = model.apply(v, x)
    assert list(r.activations) == ["Conv_0", "Conv_1", "Dense_0"]
    assert bool(r.finite) and r.loss.dtype == F64
    np.testing.assert_allclose(float(r.loss), 0.5 * float(jnp.sum(y**2)), rtol=1e-12)
    # last layer: L = ½‖y‖², so ∂L/∂y = y
    np.testing.assert_allclose(float(r.activations["Dense_0"]), _log_sq(y), rtol=1e-12)
    _check_params(r, jax.grad(lambda p: _half_sq(model.apply({"params": p}, x)))(v["params"]))
    np.testing.assert_allclose(float(r.input), _log_sq(jax.grad(lambda x: _half_sq(model.apply(v, x)))(x)), rtol=1e-10)
    # the model split by hand: tails after Conv_0 and Conv_1
    p = v["params"]
    conv = lambda name, z: nn.Conv(4, (3, 3)).apply({"params": p[name]}, z)
    dense = lambda z: nn.Dense(10).apply({"params": p["Dense_0"]}, z.reshape(-1))
    z0 = conv("Conv_0", x)
    z1 = conv("Conv_1", nn.relu(z0))
    tail1 = lambda z: _half_sq(dense(nn.relu(z)))
    tail0 = lambda z: tail1(conv("Conv_1", nn.relu(z)))
    np.testing.assert_allclose(float(r.activations["Conv_1"]), _log_sq(jax.grad(tail1)(z1)), rtol=1e-10)
    np.testing.assert_allclose(float(r.activations["Conv_0"]), _log_sq(jax.grad(tail0)(z0)), rtol=1e-10)


def test_a_wrong_reference_is_rejected(cnn):
    """The comparisons above are sharp: a planted off-by-one-layer reference fails them."""
    model, v, x = cnn
    r = vg.module_gradient_flow(model, x, variables=v)
    y = model.apply(v, x)
    assert abs(float(r.activations["Conv_1"]) - _log_sq(y)) > 1e-3
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(float(r.params["Dense_0/bias"]), _log_sq(y) + 1e-6, rtol=1e-10)


def _value(v):
    return v.get_value() if hasattr(v, "get_value") else v.value


class NnxMLP(nnx.Module):
    def __init__(self, rngs, widths=(5, 7, 6, 3)):
        self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs, param_dtype=F64) for a, b in zip(widths[:-1], widths[1:])])

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = jnp.tanh(layer(x))
        return self.layers[-1](x)


def test_nnx_mlp_matches_grad_and_split(key):
    model = NnxMLP(nnx.Rngs(0))
    x = jax.random.normal(key, (5,), F64)
    loss = lambda y: jnp.sum(jnp.sin(y))  # not the default: ∂L/∂y = cos y
    r = jax.jit(lambda x: vg.module_gradient_flow(model, x, loss))(x)
    assert list(r.activations) == ["layers/0", "layers/1", "layers/2"] and bool(r.finite)
    y = model(x)
    np.testing.assert_allclose(float(r.activations["layers/2"]), _log_sq(jnp.cos(y)), rtol=1e-12)
    r0 = vg.module_gradient_flow(model, x)  # default ½‖y‖²: the last layer gives log‖y‖²
    np.testing.assert_allclose(float(r0.activations["layers/2"]), _log_sq(y), rtol=1e-12)
    grads = nnx.grad(lambda m: loss(m(x)))(model)
    flat = {"/".join(str(k) for k in path): _value(s) for path, s in grads.flat_state()}
    assert list(r.params) == list(flat)
    for name, g in flat.items():
        np.testing.assert_allclose(float(r.params[name]), _log_sq(g), rtol=1e-10, err_msg=name)
    L = model.layers
    z0 = L[0](x)
    tail0 = lambda z: loss(L[2](jnp.tanh(L[1](jnp.tanh(z)))))
    np.testing.assert_allclose(float(r.activations["layers/0"]), _log_sq(jax.grad(tail0)(z0)), rtol=1e-10)
    assert type(model.layers[0]) is nnx.Linear  # the user's module is untouched


class LNMLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        for i in range(2):
            x = nn.Dense(6, name=f"dense_{i}")(x)
            x = jnp.tanh(nn.LayerNorm(name=f"ln_{i}")(x))
        return nn.Dense(2, name="head")(x)


def test_layernorm_mlp_and_batch(key):
    model = LNMLP()
    x = jax.random.normal(key, (4, 3), F64)  # a batch of 4: the norms are over the batch
    v = _f64(model.init(key, x))
    r = jax.jit(lambda v, x: vg.module_gradient_flow(model, x, variables=v))(v, x)
    assert list(r.activations) == ["dense_0", "ln_0", "dense_1", "ln_1", "head"]
    _check_params(r, jax.grad(lambda p: _half_sq(model.apply({"params": p}, x)))(v["params"]))
    p = v["params"]
    ln = lambda i, z: nn.LayerNorm().apply({"params": p[f"ln_{i}"]}, z)
    dense = lambda name, z: nn.Dense(p[name]["bias"].shape[0]).apply({"params": p[name]}, z)
    z = dense("dense_1", jnp.tanh(ln(0, dense("dense_0", x))))
    tail = lambda z: _half_sq(dense("head", jnp.tanh(ln(1, z))))
    np.testing.assert_allclose(float(r.activations["dense_1"]), _log_sq(jax.grad(tail)(z)), rtol=1e-10)
    np.testing.assert_allclose(float(r.activations["head"]), _log_sq(model.apply(v, x)), rtol=1e-12)


def test_dead_relu_layer_is_minus_inf_and_flagged(key):
    model = nn.Sequential(
        [
            nn.Dense(6, bias_init=nn.initializers.constant(-100.0)),
            nn.relu,
            nn.Dense(2, bias_init=nn.initializers.constant(0.3)),
        ]
    )
    x = jnp.ones(3, F64)
    v = _f64(model.init(key, x))
    r = jax.jit(lambda v: vg.module_gradient_flow(model, x, variables=v))(v)
    assert r.activations["layers_0"] == -np.inf and not bool(r.finite)
    assert r.params["layers_0/kernel"] == -np.inf and r.params["layers_2/kernel"] == -np.inf
    assert np.isfinite(float(r.params["layers_2/bias"])) and r.input == -np.inf
    leaves = jax.tree_util.tree_leaves(r)
    assert not any(np.isnan(np.asarray(a)).any() for a in leaves if np.asarray(a).dtype.kind == "f")


def test_tiny_gradients_do_not_underflow():
    """∂L/∂h = 1e-30 is a float32 number but its square underflows; the scaled log-norm does not."""
    f = lambda w, x: 1e-30 * vg.tap(w * x, "h")
    r = vg.module_gradient_flow(f, jnp.ones(4, jnp.float32), jnp.sum, variables=jnp.ones(4, jnp.float32))
    assert r.activations["h"].dtype == jnp.float32 and bool(r.finite)
    np.testing.assert_allclose(float(r.activations["h"]), math.log(4e-60), rtol=1e-6)


def test_taps_in_a_plain_function(key):
    w = jax.random.normal(key, (3, 4, 4), F64) / 2

    def f(w, x):
        for wl in w:  # as many layers as w has
            x = vg.tap(jnp.matmul(wl, jnp.tanh(x), precision="highest"), "layer")
        return x

    x = jax.random.normal(jax.random.fold_in(key, 1), (4,), F64)
    r = jax.jit(lambda w, x: vg.module_gradient_flow(f, x, variables=w))(w, x)
    assert list(r.activations) == ["layer", "layer:1", "layer:2"] and list(r.params) == ["params"]
    z = x
    for l in range(3):
        z = jnp.matmul(w[l], jnp.tanh(z), precision="highest")
        tail = lambda z, l=l: _half_sq(f(w[l + 1 :], z))
        key_l = "layer" if l == 0 else f"layer:{l}"
        np.testing.assert_allclose(float(r.activations[key_l]), _log_sq(jax.grad(tail)(z)), rtol=1e-10)
    np.testing.assert_allclose(float(r.params["params"]), _log_sq(jax.grad(lambda w: _half_sq(f(w, x)))(w)), rtol=1e-10)
    assert vg.tap(x, "outside") is x  # the identity outside module_gradient_flow


def test_vmap_over_keys_and_ensemble(key):
    model = nn.Sequential([nn.Dense(8), jnp.tanh, nn.Dense(8), jnp.tanh, nn.Dense(1)])
    x = jnp.linspace(-1.0, 1.0, 4)

    def member(k):
        return vg.module_gradient_flow(model, x, variables=model.init(k, x)).activations

    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(16))
    batch = jax.jit(jax.vmap(member))(keys)
    one = jax.jit(member)(keys[7])
    for name in one:
        np.testing.assert_allclose(batch[name][7], one[name], rtol=1e-6)
    e = vg.ensemble(member, key, 16)
    assert e.n == 16 and list(e.mean) == ["layers_0", "layers_2", "layers_4"]
    for name in e.mean:
        np.testing.assert_allclose(e.mean[name], np.mean(np.asarray(batch[name], np.float64)), rtol=1e-5)
        assert float(e.se[name]) > 0


def test_nnx_under_vmap(key):
    def member(k):
        return vg.module_gradient_flow(NnxMLP(nnx.Rngs(k)), jnp.ones(5, F64)).params

    out = jax.jit(jax.vmap(member))(jax.random.split(key, 2))
    assert out["layers/0/kernel"].shape == (2,) and bool(jnp.all(jnp.isfinite(out["layers/0/kernel"])))


def test_errors_name_the_argument(cnn):
    model, v, x = cnn
    with pytest.raises(TypeError, match="variables"):
        vg.module_gradient_flow(model, x)
    with pytest.raises(TypeError, match="model"):
        vg.module_gradient_flow(3, x)
    with pytest.raises(TypeError, match="loss"):
        vg.module_gradient_flow(model, x, loss=lambda y: y, variables=v)
    with pytest.raises(ValueError, match="x"):
        vg.module_gradient_flow(model, jnp.ones((8, 8, 5)), variables=v)
    with pytest.raises(TypeError, match="x"):
        vg.module_gradient_flow(model, x.astype(jnp.complex64), variables=v)
    with pytest.raises(TypeError, match="variables"):
        vg.module_gradient_flow(NnxMLP(nnx.Rngs(0)), jnp.ones(5), variables=v)
    with pytest.raises(TypeError, match="name"):
        vg.tap(x, 3)


class Block(nn.Module):
    """A pre-LN transformer block: x + attn(ln1(x)), then + mlp(ln2(·))."""

    @nn.compact
    def __call__(self, x):
        x = x + nn.SelfAttention(num_heads=2, name="attn", param_dtype=F64)(nn.LayerNorm(name="ln1")(x))
        return x + nn.Dense(8, name="mlp", param_dtype=F64)(nn.LayerNorm(name="ln2")(x))


class Stack(nn.Module):
    @nn.compact
    def __call__(self, x):
        for i in range(2):
            x = Block(name=f"blocks_{i}")(x)
        return x


def test_nested_paths_pre_ln_transformer(key):
    model = Stack()
    x = jax.random.normal(key, (4, 8), F64)
    v = _f64(model.init(key, x))
    r = jax.jit(lambda v, x: vg.module_gradient_flow(model, x, variables=v))(v, x)
    names = [f"blocks_{i}{s}" for i in range(2) for s in ("", "/ln1", "/attn", "/ln2", "/mlp")]
    assert [k for k in r.activations if not k.endswith(("/query", "/key", "/value", "/out"))] == names
    assert bool(r.finite)
    p = v["params"]["blocks_1"]
    x1 = Block().apply({"params": v["params"]["blocks_0"]}, x)
    z = nn.SelfAttention(num_heads=2).apply({"params": p["attn"]}, nn.LayerNorm().apply({"params": p["ln1"]}, x1))

    def tail(z):
        h = x1 + z
        return _half_sq(h + nn.Dense(8).apply({"params": p["mlp"]}, nn.LayerNorm().apply({"params": p["ln2"]}, h)))

    np.testing.assert_allclose(float(r.activations["blocks_1/attn"]), _log_sq(jax.grad(tail)(z)), rtol=1e-10)
    np.testing.assert_allclose(float(r.activations["blocks_1"]), _log_sq(model.apply(v, x)), rtol=1e-12)
    _check_params(r, jax.grad(lambda q: _half_sq(model.apply({"params": q}, x)))(v["params"]))


class Shared(nn.Module):
    """One Dense called twice, a tap inside a module, and BatchNorm statistics (mutable)."""

    def setup(self):
        self.dense = nn.Dense(3, param_dtype=F64)
        self.bn = nn.BatchNorm(use_running_average=False, param_dtype=F64)

    def __call__(self, x):
        h = vg.tap(jnp.tanh(self.bn(self.dense(x))), "hidden")
        return self.dense(h)


def test_shared_module_tap_and_batch_stats(key):
    model = Shared()
    x = jax.random.normal(key, (5, 3), F64)
    v = _f64(model.init(key, x))
    assert "batch_stats" in v
    r = jax.jit(lambda v: vg.module_gradient_flow(model, x, variables=v))(v)
    assert list(r.activations) == ["dense", "bn", "hidden", "dense:1"] and bool(r.finite)
    y, _ = model.apply(v, x, mutable=["batch_stats"])
    np.testing.assert_allclose(float(r.activations["dense:1"]), _log_sq(y), rtol=1e-12)
    p = v["params"]
    dense = lambda z: nn.Dense(3).apply({"params": p["dense"]}, z)
    h = jnp.tanh(model.apply(v, x, method=lambda m, x: m.bn(m.dense(x)), mutable=["batch_stats"])[0])
    np.testing.assert_allclose(
        float(r.activations["hidden"]), _log_sq(jax.grad(lambda h: _half_sq(dense(h)))(h)), rtol=1e-10
    )
    grads = jax.grad(lambda q: _half_sq(model.apply({**v, "params": q}, x, mutable=["batch_stats"])[0]))(p)
    _check_params(r, grads)
    with pytest.raises(ValueError, match="precision"):
        vg.module_gradient_flow(model, x, variables=v, precision="extreme")


def test_second_eager_call_does_not_retrace(key):
    """Compiled internals are cached per (model, loss): a counter inside the loss counts traces."""
    traces = []

    def loss(y):
        traces.append(1)
        return _half_sq(y)

    model = nn.Sequential([nn.Dense(4), nn.relu, nn.Dense(2)])  # holds a list: cached by identity
    x = jnp.ones(3)
    v = model.init(key, x)
    r1 = vg.module_gradient_flow(model, x, loss, v)
    n = len(traces)
    v2 = jax.tree.map(lambda a: 2 * a, v)
    r2 = vg.module_gradient_flow(model, x, loss, v2)  # new numbers, same shapes
    assert len(traces) == n and float(r2.loss) != float(r1.loss)
    np.testing.assert_allclose(float(r2.loss), float(_half_sq(model.apply(v2, x))), rtol=1e-6)
    m = NnxMLP(nnx.Rngs(0))
    vg.module_gradient_flow(m, jnp.ones(5, F64), loss)
    n = len(traces)
    vg.module_gradient_flow(NnxMLP(nnx.Rngs(1)), jnp.ones(5, F64), loss)  # an equal graph: cached
    assert len(traces) == n
    f = lambda w, x: vg.tap(w * x, "h")
    vg.module_gradient_flow(f, x, loss, jnp.ones(3))
    n = len(traces)
    vg.module_gradient_flow(f, x, loss, 3 * jnp.ones(3))
    assert len(traces) == n
    g = lambda x: vg.tap(x, "h")  # no variables: traced every call (nothing hidden gets frozen)
    vg.module_gradient_flow(g, x, loss)
    n = len(traces)
    vg.module_gradient_flow(g, x, loss)
    assert len(traces) > n
