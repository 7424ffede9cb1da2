"""Large ensembles: every registered claim at its `--full` settings (run with `pytest -m slow`).

Minutes on a GPU, much longer on a CPU (times measured on a shared 2-core CPU are in the
README); CI runs the quick settings through `test_cli.py` and the owners' tests instead.

Each claim runs in its own process (`python -m vgtheory verify --full --only ID --json ...`)
under a timeout, so a hang, a crash or an out-of-memory failure fails that claim's test and
every other claim still runs. A process still running after ``VGTHEORY_SLOW_TIMEOUT``
seconds (default 3600) dumps its Python stacks (faulthandler) and exits; the stacks are in
the failure message. The verdicts use the Bonferroni threshold over the claims as well as
their rows (family-wise α = 0.01 over the whole slow run).
"""

import json
import os
import subprocess
import sys

import pytest

from vgtheory._claims import all_claims

CLAIMS = sorted(all_claims())
TIMEOUT = float(os.environ.get("VGTHEORY_SLOW_TIMEOUT", 3600))
ALPHA = 0.01 / len(CLAIMS)

_RUN = """
import faulthandler, sys
faulthandler.dump_traceback_later({dump}, exit=True)  # a hang leaves its stacks on stderr
from vgtheory._cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_full(claim_id: str, json_path, timeout: float = TIMEOUT) -> tuple[dict | None, str]:
    """Runs one claim at full settings in a subprocess; returns (its JSON record or None, stderr)."""
    cmd = [
        sys.executable,
        "-c",
        _RUN.format(dump=timeout),
        "verify",
        "--full",
        "--only",
        claim_id,
        "--alpha",
        repr(ALPHA),
        "--json",
        str(json_path),
    ]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 120)
        err = res.stderr
    except subprocess.TimeoutExpired as e:  # faulthandler did not get to exit: hard hang
        err = (e.stderr.decode() if isinstance(e.stderr, bytes) else e.stderr or "") + "\n[killed at the timeout]"
    try:
        data = json.loads(open(json_path).read())
    except (OSError, ValueError):
        return None, err
    found = [c for c in data["claims"] if c["id"] == claim_id]
    return (found[0] if found else None), err


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", CLAIMS)
def test_claim_full_settings(claim_id, tmp_path):
    c, err = run_full(claim_id, tmp_path / "result.json")
    assert c is not None, f"{claim_id} at --full produced no result (hang, crash or timeout):\n{err[-4000:]}"
    assert c["error"] is None, c["error"]
    assert c["as_expected"], [(r["label"], r["verdict"]) for r in c["comparisons"]]
    assert all(r["planted_rejected"] for r in c["comparisons"] if r["verdict"] == "confirmed")
