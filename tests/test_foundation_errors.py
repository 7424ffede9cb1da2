"""Bad input gives a clear error naming the argument, eagerly and under jit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vgtheory as vg


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(widths=[]), "widths"),
        (dict(widths=[4]), "widths"),
        (dict(widths=[4, 0, 3]), "widths"),
        (dict(widths="44"), "widths"),
        (dict(widths=[4, 4], init="kaiming"), "init"),
        (dict(widths=[4, 4], sigma_w2=-1.0), "sigma_w2"),
        (dict(widths=[4, 4], sigma_b2=-0.5), "sigma_b2"),
        (dict(widths=[4, 5], init="identity"), "widths"),
    ],
)
def test_init_mlp_rejects(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        vg.init_mlp(jax.random.key(0), **kwargs)


def test_unknown_activation():
    with pytest.raises(ValueError, match="name: unknown activation 'swish'"):
        vg.activation("swish")
    with pytest.raises(ValueError, match="params"):
        vg.activation("tanh", alpha=0.1)


def test_shape_mismatch_under_jit():
    p = vg.init_mlp(jax.random.key(0), [4] * 3)
    with pytest.raises(ValueError, match=r"x: expected shape \[\.\.\., 4\]"):
        jax.jit(lambda x: vg.mlp_apply(p, x, "tanh"))(jnp.ones(5))
    with pytest.raises(ValueError, match="cotangent"):
        jax.jit(lambda g: vg.gradient_flow(p, jnp.ones(4), "tanh", g))(jnp.ones(3))
    with pytest.raises(ValueError, match="x: expected a single input"):
        vg.gradient_flow(p, jnp.ones((2, 4)), "tanh", jnp.ones(4))


def test_ensemble_rejects():
    k = jax.random.key(0)
    for n in (0, 1, -3, 2.5):
        with pytest.raises(ValueError, match="n: expected an ensemble size"):
            vg.ensemble(lambda k: jnp.zeros(()), k, n)
    with pytest.raises(ValueError, match="chunk_size"):
        vg.ensemble(lambda k: jnp.zeros(()), k, 10, chunk_size=0)
    with pytest.raises(TypeError, match="fn"):
        vg.ensemble(3, k, 10)


def test_estimate_rejects_single_sample():
    with pytest.raises(ValueError, match="samples"):
        vg.estimate(jnp.ones(1))


def test_nonfinite_is_flagged_not_hidden():
    r = vg.ensemble(lambda k: jnp.where(jax.random.uniform(k) < 0.5, jnp.nan, 1.0), jax.random.key(0), 64)
    assert int(r.nonfinite) > 0 and not np.isfinite(r.mean)
    p = vg.init_mlp(jax.random.key(0), [4] * 3)
    gf = vg.gradient_flow(p, jnp.ones(4), "relu", jnp.zeros(4))  # zero cotangent: log 0
    assert not bool(gf.finite)
