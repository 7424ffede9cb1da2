"""Large ensembles: every registered claim at its `--full` settings (run with `pytest -m slow`).

Minutes on a GPU, much longer on a CPU; CI runs the quick settings through `test_cli.py`
and the owners' tests instead.
"""
import jax
import pytest

from vgtheory._claims import all_claims, family_k, run_claim
from vgtheory._cli import claim_key

CLAIMS = sorted(all_claims())


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", CLAIMS)
def test_claim_full_settings(claim_id):
    c = all_claims()[claim_id]
    r = run_claim(c, claim_key(0, claim_id), full=True)
    assert r.error is None, r.error
    k = family_k([r], 0.01 / len(CLAIMS))  # Bonferroni over the claims as well as their rows
    assert r.as_expected_at(k), [(x.label, x.verdict(k)) for x in r.comparisons]
    assert all(x.planted_rejected(k) for x in r.comparisons if x.verdict(k) == "confirmed")
