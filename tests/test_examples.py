"""Every script in ``examples/`` runs at ``--smoke`` size and prints its result line.

The ``diagnose_*`` factories run through ``vgtheory diagnose`` in ``test_diagnose.py``;
``my_claim.py`` runs through ``vgtheory verify --claims``. Each script's numbers are
checked against independent references in the tests of the functions it calls; here the
point is that the examples a researcher copies from keep working.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPTS = {  # script: a line its --smoke output must contain
    "flax_lstm_lyapunov_bptt.py": "resolved: 32/32",
    "linen_cnn_jacobian_spectra.py": "He (σ_w² = 2)",
    "nnx_mlp_gradient_flow.py": "mean-field χ₁",
    "optax_sharpness.py": "dense check: top-3",
    "transformer_rank_collapse.py": "without skips",
}


def _run(args, timeout=600):
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


def test_every_example_is_covered():
    here = {f for f in os.listdir(os.path.join(ROOT, "examples")) if f.endswith(".py")}
    covered = set(SCRIPTS) | {"my_claim.py"} | {f for f in here if f.startswith("diagnose_")}
    assert here == covered, f"examples without a test: {sorted(here - covered)}"


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_example_runs(script):
    r = _run([os.path.join("examples", script), "--smoke"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert SCRIPTS[script] in r.stdout, r.stdout[-2000:]


def test_my_claim_verifies():
    r = _run(["-m", "vgtheory", "verify", "--claims", "examples/my_claim.py", "--only", "MY-LINEAR"])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "MY-LINEAR" in r.stdout and "all claims as expected" in r.stdout
