"""A claim of one's own, run by ``vgtheory verify --claims examples/my_claim.py``.

    vgtheory verify --claims examples/my_claim.py --json my_claim.json [--full]

The claim: in a deep *linear* net with fan-in N(0, σ²/n) weights, the backward squared
gradient norm obeys E‖g_0‖² / ‖g_L‖² = σ^{2L} exactly, at any width. Each member draws one
net and one output cotangent; ``vg.ensemble`` streams mean ± SE; ``Comparison`` checks the
law and must reject the planted σ^{2(L+1)}.
"""

import jax
import jax.numpy as jnp

import vgtheory as vg


@vg.claim(
    id="MY-LINEAR",
    title="Deep linear nets: E‖g_0‖²/‖g_L‖² = σ^{2L}",
    area="mine",
    statement="E‖W_1ᵀ⋯W_Lᵀ g‖² / ‖g‖² = σ^{2L} for W_l ~ N(0, σ²/n)",
    source="examples/my_claim.py",
)
def linear_gradient_law(key, full):
    width, depth, sigma2 = 64, 10, 1.2
    members = 4000 if full else 1000

    def member(k):
        kw, kg = jax.random.split(k)
        w = jax.random.normal(kw, (depth, width, width)) * jnp.sqrt(sigma2 / width)
        g = jax.random.normal(kg, (width,))
        g_last = g

        def back(g, wl):
            return jnp.matmul(wl.T, g, precision="highest"), None

        g0, _ = jax.lax.scan(back, g, w)
        return jnp.sum(g0**2) / jnp.sum(g_last**2)

    r = vg.ensemble(member, key, members)
    law = sigma2**depth
    return [
        vg.Comparison(
            label="E‖g_0‖²/‖g_L‖²", prediction=law, estimate=r.mean, se=r.se, n=r.n, planted=sigma2 ** (depth + 1)
        )
    ]
