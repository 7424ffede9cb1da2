"""The command line: verify prints the table, writes JSON, exits non-zero when a claim fails."""

import json
import subprocess
import sys

from vgtheory import _cli
from vgtheory._claims import Claim, Comparison, REGISTRY, all_claims


def test_list_shows_all_spec_ids(capsys):
    assert _cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for cid in ["S1", "S2", "S3", "S4", "L1"]:
        assert cid in out


def test_verify_only_writes_json(tmp_path, capsys):
    path = tmp_path / "r.json"
    assert _cli.main(["verify", "--only", "S1", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "S1" in out and "confirmed" in out and "Bonferroni" in out
    data = json.loads(path.read_text())
    assert data["config"]["seed"] == 0 and data["environment"]["jax"]
    rows = data["claims"][0]["comparisons"]
    assert all(r["planted_rejected"] for r in rows) and data["claims"][0]["as_expected"]


def test_verify_exits_nonzero_when_expected_claim_fails(capsys, monkeypatch):
    bad = Claim(
        "TEST.bad",
        "wrong on purpose",
        "1 = 2",
        "test",
        area="test",
        run=lambda key, full: [
            Comparison(label="one vs two", prediction=2.0, estimate=1.0, se=0.01, n=100, planted=3.0)
        ],
    )
    monkeypatch.setitem(REGISTRY, "TEST.bad", bad)
    monkeypatch.setattr(_cli, "select", lambda claims, only, full: [bad])
    assert _cli.main(["verify"]) == 1
    assert "NOT as expected: TEST.bad" in capsys.readouterr().out


def test_verify_unknown_pattern():
    assert _cli.main(["verify", "--only", "NO_SUCH_CLAIM"]) == 2


def test_every_claim_has_source_and_statement():
    claims = all_claims()
    assert len(claims) >= 5
    for c in claims.values():
        assert c.statement and c.source and c.title
        if not c.expected:  # a refuted textbook statement has a corrected twin
            assert any(o.id.startswith(c.id) and o.expected and o.id != c.id for o in claims.values()), c.id


def test_module_entry_point():
    res = subprocess.run([sys.executable, "-m", "vgtheory", "list"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "S4" in res.stdout


def test_default_verify_all_claims_as_expected(tmp_path, capsys):
    """The README's main job: every registered claim at its quick settings, as expected."""
    path = tmp_path / "all.json"
    rc = _cli.main(["verify", "--json", str(path)])
    out = capsys.readouterr().out
    assert rc == 0, out[-3000:]
    data = json.loads(path.read_text())
    assert len(data["claims"]) == len(all_claims())
    assert all(c["as_expected"] for c in data["claims"])
