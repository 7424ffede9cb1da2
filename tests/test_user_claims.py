"""A user's claims reach the CLI, JSON and HTML report: ``@vg.claim``, ``--claims``, entry points.

Every test leaves the claim registry as it found it (``registry`` fixture). One subprocess
runs the README's command end to end; the error paths and entry points run in-process
through ``vgtheory list`` (which loads claims exactly as ``verify`` does, without running them).
"""

import json
import subprocess
import sys
import textwrap

import jax
import pytest

import vgtheory as vg
from vgtheory import _cli
from vgtheory._claims import REGISTRY
from vgtheory._user_claims import ClaimsNotFoundError, entry_point_claims

CLAIM_FILE = """
import vgtheory as vg


@vg.claim(id="{id}1", title="two plus two", statement="2 + 2 = 4", source="arithmetic")
def first(key, full):
    return [vg.Comparison(label="2 + 2", prediction=4.0, estimate=2.0 + 2.0, se=0.0, n=1, planted=5.0, rtol=1e-12)]


@vg.claim(id="{id}2", title="a refuted one", statement="2 + 2 = 5", source="arithmetic", expected=False)
def second(key, full):
    return [vg.Comparison(label="2 + 2", prediction=5.0, estimate=4.0, se=0.0, n=1, planted=4.0, rtol=1e-12)]
"""


@pytest.fixture
def registry():
    saved = dict(REGISTRY)
    mods = set(sys.modules)
    yield
    REGISTRY.clear()
    REGISTRY.update(saved)
    for m in set(sys.modules) - mods:
        if m.startswith(("vgtheory_user_claims_", "fakeplug")):
            del sys.modules[m]


def _write(folder, name, text):
    p = folder / name
    p.write_text(textwrap.dedent(text))
    return p


def _fake_distribution(folder, dist, entry_points, modules):
    """A distribution without installing anything: a ``*.dist-info`` with ``entry_points.txt``."""
    info = folder / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[vgtheory.claims]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points))
    for name, text in modules.items():
        _write(folder, name, text)


def test_claim_file_runs_through_verify_json(tmp_path):
    """The issue's done-when: ``vgtheory verify --claims FILE --only ID --json OUT`` (a fresh process)."""
    f = _write(tmp_path, "my_claims.py", CLAIM_FILE.format(id="MY"))
    out = tmp_path / "out.json"
    cmd = [
        sys.executable,
        "-m",
        "vgtheory",
        "verify",
        "--claims",
        str(f),
        "--only",
        "MY1",
        "S1",
        "--json",
        str(out),
        "--no-cache",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    data = json.loads(out.read_text())
    rows = {c["id"]: c for c in data["claims"]}
    assert set(rows) == {"MY1", "S1"}  # --only selects among built-in and user claims
    assert rows["MY1"]["verdict"] == "confirmed" and rows["MY1"]["as_expected"]
    assert rows["MY1"]["comparisons"][0]["estimate"] == 4.0 and rows["MY1"]["comparisons"][0]["planted_rejected"]
    assert rows["MY1"]["origin"].endswith("my_claims.py") and rows["MY1"]["k"] == data["config"]["k"]
    assert data["config"]["claims"] == [str(f)]
    assert "MY1" in res.stdout and "all claims as expected" in res.stdout


def test_claims_without_only_runs_just_the_users_claims_with_report(tmp_path, registry, capsys):
    f = _write(tmp_path, "mine.py", CLAIM_FILE.format(id="ONLYU"))
    out, rep = tmp_path / "o.json", tmp_path / "rep"
    assert _cli.main(["verify", "--claims", str(f), "--json", str(out), "--report", str(rep), "--no-cache"]) == 0
    data = json.loads(out.read_text())
    assert [c["id"] for c in data["claims"]] == ["ONLYU1", "ONLYU2"]
    assert data["claims"][1]["verdict"] == "refuted" and data["claims"][1]["as_expected"]  # expected to fail
    assert "ONLYU2" in capsys.readouterr().out
    html = (rep / "report.html").read_text()
    assert 'id="claim-ONLYU1"' in html and "two plus two" in html and "mine.py" in html


@pytest.mark.parametrize(
    "case",
    ["missing file", "missing module", "import error", "syntax error", "duplicate id", "no claims", "same file twice"],
)
def test_claims_error_paths(case, tmp_path, registry, capsys):
    ok = _write(tmp_path, "ok_claims.py", CLAIM_FILE.format(id="ERR"))
    srcs = {
        "missing file": [str(tmp_path / "nope.py")],
        "missing module": ["no_such_module_for_vgtheory"],
        "import error": [str(_write(tmp_path, "broken.py", "import vgtheory\n\ndef f():\n    return 1 / 0\n\nf()\n"))],
        "duplicate id": [str(ok), str(_write(tmp_path, "dup.py", CLAIM_FILE.format(id="ERR").replace("first", "x")))],
        "syntax error": [str(_write(tmp_path, "typo.py", "import vgtheory\n\ndef f(:\n    pass\n"))],
        "no claims": [str(_write(tmp_path, "empty.py", "x = 1\n"))],
        "same file twice": [str(ok), str(ok)],
    }[case]
    before = set(REGISTRY)
    rc = _cli.main(["list"] + [a for s in srcs for a in ("--claims", s)])
    err = capsys.readouterr().err
    if case == "same file twice":  # loaded once, no duplicate error
        assert rc == 0 and {"ERR1", "ERR2"} <= set(REGISTRY)
        return
    assert rc == 2
    expect = {
        "missing file": "no claim file",
        "missing module": "neither a claim file nor an importable module",
        "import error": "ZeroDivisionError",
        "syntax error": 'typo.py", line 3',
        "duplicate id": "'ERR1' is already registered by first in",
        "no claims": "registers no claims",
    }[case]
    assert expect in err, err
    if case == "import error":  # a brief traceback: the user's lines, not the import machinery
        assert 'broken.py", line 4, in f' in err and "importlib" not in err and "_cli.py" not in err
    if case == "duplicate id":
        assert "ok_claims.py" in err and "dup.py" in err  # both sources named
        assert set(REGISTRY) == before | {"ERR1", "ERR2"}  # the failed file left nothing behind
    else:
        assert set(REGISTRY) == before


def test_claims_from_a_module_name(tmp_path, registry, monkeypatch, capsys):
    _write(tmp_path, "fakeplug_module_claims.py", CLAIM_FILE.format(id="MOD"))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _cli.main(["list", "--claims", "fakeplug_module_claims"]) == 0
    assert "MOD2" in capsys.readouterr().out and {"MOD1", "MOD2"} <= set(REGISTRY)


def test_load_claims_api(tmp_path, registry):
    f = _write(tmp_path, "api_claims.py", CLAIM_FILE.format(id="API"))
    claims = vg.load_claims(f)  # a PathLike works too
    assert [c.id for c in claims] == ["API1", "API2"] and vg.load_claims(str(f)) == claims
    with pytest.raises(ClaimsNotFoundError, match="source"):
        vg.load_claims(tmp_path / "missing.py")
    with pytest.raises(TypeError, match="source"):
        vg.load_claims(3)


def test_entry_point_claims(tmp_path, registry, monkeypatch, capsys):
    _fake_distribution(
        tmp_path,
        "fakeplug_dist",
        [("mod", "fakeplug_mod"), ("fn", "fakeplug_fn:register_all")],
        {
            "fakeplug_mod.py": CLAIM_FILE.format(id="EPM"),
            "fakeplug_fn.py": """
            import vgtheory as vg

            def register_all():
                vg.register(vg.Claim("EPF1", "t", "s", "src", run=lambda key, full: []))
            """,
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded = entry_point_claims()
    assert {tuple(c.id for c in v) for v in loaded.values()} == {("EPM1", "EPM2"), ("EPF1",)}
    assert any(k.startswith("mod = fakeplug_mod (fakeplug_dist") for k in loaded)
    # `vgtheory list` shows them; --no-entry-points is honoured by loading nothing new
    assert _cli.main(["list"]) == 0 and "EPM1" in capsys.readouterr().out


def test_broken_entry_point_names_the_distribution(tmp_path, registry, monkeypatch, capsys):
    _fake_distribution(
        tmp_path,
        "fakeplug_bad",
        [("bad", "fakeplug_bad_mod")],
        {"fakeplug_bad_mod.py": "import vgtheory\nraise RuntimeError('plugin is broken')\n"},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _cli.main(["list"]) == 2
    err = capsys.readouterr().err
    assert "bad = fakeplug_bad_mod (fakeplug_bad)" in err and "plugin is broken" in err and "--no-entry-points" in err
    assert _cli.main(["list", "--no-entry-points"]) == 0


def test_claim_result_is_data(registry):
    @vg.claim(id="RES1", title="t", statement="s", source="src")
    def res1(key, full):
        return [
            vg.Comparison(label="a", prediction=1.0, estimate=1.01, se=0.01, n=100, planted=1.5),
            vg.Comparison(label="b", prediction=2.0, estimate=2.0 + 1e-12, se=0.0, n=1, planted=3.0, rtol=1e-9),
        ]

    assert isinstance(res1, vg.Claim) and vg.all_claims()["RES1"] is res1
    r = vg.run_claim(res1, vg.claim_key(0, "RES1"), False)
    assert r.verdict == "confirmed" and r.as_expected and r.verdicts == ["confirmed", "confirmed"]
    assert r.k == pytest.approx(vg.bonferroni_k(0.01, 2))
    assert r.verdict_at(0.5) == "refuted" and not r.as_expected_at(0.5)  # |z| = 1 > 0.5
    assert r.with_k(0.5).verdict == "refuted" and r.verdict == "confirmed"  # immutable
    assert repr(r).startswith("ClaimResult(id='RES1', verdict='confirmed', as_expected=True, rows=2, k=2.81")
    assert "bound method" not in repr(r) + str(r)
    assert str(r).splitlines()[0].startswith("RES1: confirmed (expected to hold: as expected); 2 rows")
    d = json.loads(json.dumps(r.as_dict(), allow_nan=False))
    assert d["verdict"] == "confirmed" and d["k"] == r.k and len(d["comparisons"]) == 2
    assert d["comparisons"][1]["z"] is None and d["origin"].startswith("test_claim_result_is_data.<locals>.res1 in")

    @vg.claim(id="RES1", title="t", statement="s", source="src")  # a notebook cell run again: replaced
    def res1(key, full):
        raise RuntimeError("boom")

    r = vg.run_claim(res1, jax.random.key(1), False)
    assert r.verdict == "inconclusive" and r.error.startswith("RuntimeError: boom (at test_user_claims.py:")
    assert "error='RuntimeError: boom" in repr(r)


def test_claim_decorator_checks_its_fields():
    for kw, name in [
        (dict(id=""), "id"),
        (dict(id="a b"), "id"),
        (dict(id=3), "id"),
        (dict(title=None), "title"),
        (dict(expected="yes"), "expected"),
    ]:
        with pytest.raises((TypeError, ValueError), match=name):
            vg.claim(**({"id": "X", "title": "t", "statement": "s", "source": "src"} | kw))
    with pytest.raises(TypeError, match="run"):
        vg.Claim("X", "t", "s", "src", run=3)
