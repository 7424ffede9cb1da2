"""Regression tests for the claims' ``--full`` settings on CPU (issue 13, item 6).

* S17 hung in a futex wait: Flax's LSTMCell draws four orthogonal kernels (four QRs);
  vmapped over draws they became four concurrent *batched* LAPACK calls, and jaxlib 0.10's
  batched kernels block an XLA:CPU pool thread while waiting for pieces queued on the same
  pool, so with ≥ (pool size) of them in flight nothing ran (2 threads on a 2-core machine).
  The draws now run through ``vg.ensemble`` one per chunk (a batch of 1 runs inline). Run in a subprocess with a timeout, so a
  regression fails instead of hanging the suite; the old vmapped draw at this setting
  (N = 64, 32 draws, 30 calls) hung 3 times out of 3 on a 2-core machine.
* L1 (and S3, S4) allocated every member at once (86 GB for L1 at full settings); their
  members now stream through ``vg.ensemble`` in memory-bounded chunks.
"""

import functools
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import pytest

from vgtheory import _ensemble
from vgtheory.claims import foundation

_S17_TWICE = textwrap.dedent("""
    import jax, jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)
    from vgtheory._rnn import init_lstm
    from vgtheory.claims._common import member_values
    from vgtheory.claims.lyapunov import _s17_rows

    draw = lambda k: init_lstm(k, 64, 2, forget_bias=0.0, dtype=jnp.float64)
    for i in range(10):  # the vmapped draw deadlocked within a few calls here; now one draw per chunk
        jax.block_until_ready(member_values(draw, jax.random.key(i), 32, False, chunk_size=1))
    for i in range(2):   # the claim's own computation, twice in one process
        rows = _s17_rows(jax.random.key(i), 64, 1, 2, 32)
        assert rows[0].estimate < 1e-10, rows[0]
    print("ok")
""")

# L5's member draws Haar layers of two widths; as two QR calls (even sequenced by a data
# dependency) the vmapped member hung at n = 64, L = 8, 64 members; one QR of block-diagonal
# Gaussians does not.
_L5_MEMBERS = textwrap.dedent("""
    import functools, jax
    from vgtheory.claims._common import member_values
    from vgtheory.claims.spectra import _l5_member

    fn = functools.partial(_l5_member, n=64, L=8, tanh_scales=(1.33, 0.22, 0.5))
    for i in range(3):
        jax.block_until_ready(member_values(fn, jax.random.key(i), 64, False))
    print("ok")
""")


@pytest.mark.parametrize("name,program", [("S17", _S17_TWICE), ("L5", _L5_MEMBERS)])
def test_batched_qr_claims_do_not_hang(name, program):
    try:
        out = subprocess.run(
            [sys.executable, "-X", "faulthandler", "-c", program], capture_output=True, text=True, timeout=300
        )
    except subprocess.TimeoutExpired as e:  # a deadlock: no CPU used, never returns
        pytest.fail(f"{name}'s members did not finish in 300 s (deadlock?)\n{(e.stderr or '')[-2000:]}")
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]


def test_l1_full_members_go_through_the_ensemble_in_chunks(monkeypatch):
    seen = {}

    def fake(fn, key, n, *, chunk_size=None, keep_samples=False, progress=None, **kw):
        seen.update(n=n, chunk_size=chunk_size, keep_samples=keep_samples)
        return "result"

    monkeypatch.setattr(_ensemble, "ensemble", fake)
    settings = ((1.5, 0.05), (2.5, 0.05))
    assert foundation._l1_ensemble(jax.random.key(0), settings, m=512, n=512, L=40, burn=20, full=True) == "result"
    assert seen == {"n": 512, "chunk_size": "auto", "keep_samples": True}


@pytest.mark.slow  # three compilations at n = 512, L = 40: minutes on a shared 2-core CPU
def test_l1_full_chunk_fits_the_memory_budget():
    """At L1's full size (n = 512, L = 40, both settings per member) the auto chunk's compiled
    working set (XLA memory analysis) stays within the CPU budget; all 512 members did not."""
    s2s, b2s = jnp.asarray([1.5, 2.5], jnp.float32), jnp.asarray([0.05, 0.05], jnp.float32)
    fn = functools.partial(foundation._l1_member, s2s=s2s, b2s=b2s, n=512, L=40, burn=20)
    key, budget = jax.random.key(0), 2 << 30
    chunk = _ensemble.auto_chunk_size(fn, key, 512, budget)
    assert 1 <= chunk < 512

    def working_set(c):
        keys = _ensemble._member_keys(key, jnp.asarray(0, jnp.uint32), c)
        m = jax.jit(jax.vmap(fn)).lower(keys).compile().memory_analysis()
        return m.temp_size_in_bytes + m.output_size_in_bytes + m.argument_size_in_bytes

    assert working_set(chunk) <= budget  # (chunk < 512: all members at once would not fit)
