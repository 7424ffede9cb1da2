"""Activations as first-class callables: the stable derivative lives on the activation (a
custom JVP), so autodiff agrees with the explicit chain in saturation; any elementwise
callable is accepted wherever an activation is (issue 14 "Activations")."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.special import erf

import vgtheory as vg

# independent definitions, differentiated by plain autodiff
RAW = {
    "linear": lambda a: a,
    "sigmoid": lambda a: 1 / (1 + jnp.exp(-a)),
    "tanh": jnp.tanh,
    "relu": lambda a: jnp.maximum(a, 0.0),
    "leaky_relu": lambda a: jnp.where(a > 0, a, 0.01 * a),
    "prelu": lambda a: jnp.where(a > 0, a, 0.25 * a),
    "elu": lambda a: jnp.where(a > 0, a, jnp.expm1(jnp.minimum(a, 0.0))),
    "gelu": lambda a: 0.5 * a * (1 + erf(a / math.sqrt(2))),
    "silu": lambda a: a / (1 + jnp.exp(-a)),
    "erf": erf,
    "hard_tanh": lambda a: jnp.clip(a, -1.0, 1.0),
}


def test_raw_table_covers_every_builtin():
    assert set(RAW) == set(vg.ACTIVATIONS)


@pytest.mark.parametrize("name", vg.ACTIVATIONS)
def test_stable_derivative_matches_plain_autodiff(name):
    xs = jnp.linspace(-6, 6, 1001, dtype=jnp.float64)
    a = vg.activation(name)
    ref = jax.vmap(jax.grad(RAW[name]))(xs)
    smooth = jnp.abs(xs) > 1e-3 if name != "hard_tanh" else jnp.abs(jnp.abs(xs) - 1) > 1e-3
    np.testing.assert_allclose(a.deriv(xs)[smooth], ref[smooth], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a.fn(xs), RAW[name](xs), rtol=1e-12, atol=1e-15)
    # autodiff through fn now *is* the stable derivative (custom JVP), in every mode
    np.testing.assert_array_equal(jax.vmap(jax.grad(a.fn))(xs), a.deriv(xs))
    np.testing.assert_array_equal(jax.jvp(a.fn, (xs,), (jnp.ones_like(xs),))[1], a.deriv(xs))


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_autodiff_is_stable_in_saturation(name):
    a, t = vg.activation(name), 15.0 if name == "tanh" else 20.0
    plain = jnp.tanh if name == "tanh" else jax.nn.sigmoid  # 1 − tanh², σ(1 − σ): exactly 0 in float32
    g = jax.grad(a.fn)(jnp.float32(t))
    assert float(g) > 0 and float(jax.grad(plain)(jnp.float32(t))) == 0.0
    ref = 4 * math.exp(-2 * t) if name == "tanh" else math.exp(-t)  # sech², σ(1 − σ) to leading order
    np.testing.assert_allclose(float(g), ref, rtol=1e-5)


@pytest.mark.parametrize("name,s2", [("tanh", 64.0), ("sigmoid", 900.0)])
def test_input_jacobian_of_saturated_mlp_equals_mlp_jacobian(name, s2):
    n = 8
    # most units saturated (in float32 1 − tanh² is exactly 0 beyond |a| ≈ 9, σ(1 − σ) beyond
    # a ≈ 17); two layers, so the true Jacobian (products of e^{−2|a|}) stays above float32's floor
    p = vg.init_mlp(jax.random.key(3), [n] * 3, sigma_w2=s2, dtype=jnp.float32)
    x = 3.0 * jnp.linspace(-1.0, 1.0, n, dtype=jnp.float32)
    ref = np.asarray(vg.mlp_jacobian(p, x, name))
    auto = np.asarray(jax.jit(lambda x: vg.input_jacobian(lambda y: vg.mlp_apply(p, y, name), x))(x))
    fwd = np.asarray(vg.input_jacobian(lambda y: vg.mlp_apply(p, y, name), x, mode="fwd"))
    assert np.all(ref != 0) and np.all(auto != 0) and np.all(fwd != 0)
    np.testing.assert_allclose(auto, ref, rtol=1e-4)
    np.testing.assert_allclose(fwd, ref, rtol=1e-4)

    # the test has teeth: the same network with the plain activation loses entries to exact 0
    phi = jnp.tanh if name == "tanh" else jax.nn.sigmoid

    def plain(y):
        for w, b in zip(p.weights, p.biases):
            y = phi(jnp.matmul(w, y, precision="highest") + b)
        return y

    assert np.sum(np.asarray(jax.jacrev(plain)(x)) == 0) > 0


def test_wrapped_callable():
    f = lambda x: x * jax.nn.sigmoid(1.702 * x)
    a = vg.activation(f)
    assert isinstance(a, vg.Activation) and a is vg.activation(f)  # cached by identity: jit keys stay hot
    assert a != vg.activation(lambda x: x * jax.nn.sigmoid(1.702 * x))  # another callable
    assert hash(a) == hash(vg.activation(f))
    xs = jnp.linspace(-5, 5, 101, dtype=jnp.float64)
    np.testing.assert_allclose(a.deriv(xs), jax.vmap(jax.grad(f))(xs), rtol=1e-13)
    assert a.deriv(jnp.zeros((2, 3))).shape == (2, 3)
    assert math.isinf(a.deriv_bound)
    # an explicit stable derivative becomes the JVP rule
    b = vg.Activation.wrap(jnp.tanh, deriv=vg.activation("tanh").deriv, deriv_bound=1.0, name="my_tanh")
    assert float(jax.grad(b.fn)(jnp.float32(15.0))) > 0 and b.name == "my_tanh"
    # the same callable in networks and recurrent cells
    p = vg.init_mlp(jax.random.key(0), [5] * 3, dtype=jnp.float64)
    x = jnp.linspace(-1, 1, 5)
    np.testing.assert_allclose(
        vg.mlp_jacobian(p, x, f), vg.input_jacobian(lambda y: vg.mlp_apply(p, y, f), x), rtol=1e-12
    )
    r = vg.init_rnn(jax.random.key(1), 5, dtype=jnp.float64)
    np.testing.assert_allclose(vg.rnn_step(r, x, activation=jnp.tanh), vg.rnn_step(r, x), rtol=1e-14)


def test_callable_errors_name_the_argument():
    with pytest.raises(ValueError, match="^name: .*elementwise"):
        vg.activation(jax.nn.softmax)
    with pytest.raises(ValueError, match="^name: .*same shape"):
        vg.activation(lambda a: jnp.sum(a))
    with pytest.raises(ValueError, match="^params: "):
        vg.activation(jnp.tanh, alpha=0.1)
    with pytest.raises(TypeError, match="^act: "):
        vg.mlp_apply(vg.init_mlp(jax.random.key(0), [3, 3]), jnp.ones(3), 3)
    with pytest.raises(ValueError, match="^act: .*elementwise"):
        vg.theory.mean_field(jax.nn.softmax, 1.0, 0.0)
    with pytest.raises(ValueError, match="^act: .*elementwise"):  # checked inside a caller's vmap too
        jax.vmap(lambda b: vg.theory.mean_field(jax.nn.log_softmax, 1.0, b))(jnp.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="^deriv: "):
        vg.Activation.wrap(jnp.tanh, deriv=lambda a: jnp.sum(a))
