"""Test configuration: float64 available, a seeded key fixture that reports its seed."""

import os

import jax
import pytest

jax.config.update("jax_enable_x64", True)
# Implicit rank promotion (adding [n] to [m, n] without saying so) is an error in the tests:
# the library broadcasts explicitly (x[..., None], jnp.broadcast_to).
jax.config.update("jax_numpy_rank_promotion", "raise")

SEED = int(os.environ.get("VGTHEORY_TEST_SEED", "0"))


@pytest.fixture
def key(request):
    """A PRNG key; the seed is printed so that a failure can be reproduced."""
    print(f"[{request.node.name}] VGTHEORY_TEST_SEED={SEED}")
    return jax.random.key(SEED)
