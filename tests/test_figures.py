"""Paper figures (smoke mode) and the HTML report of ``vgtheory verify --report``."""

from __future__ import annotations

import html.parser
import os
import shutil
import subprocess
import sys
import time

import pytest

from vgtheory import _figures
from vgtheory._claims import all_claims
from vgtheory._report import render_report, write_report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SMOKE_BUDGET_S = 60.0  # the whole `vgtheory figures --smoke` run, warm XLA cache, idle 2-core CPU


def _env():
    return {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}


@pytest.fixture(scope="module")
def smoke_dir(tmp_path_factory):
    """Runs ``vgtheory figures --smoke`` once (as CI does) and returns the output folder."""
    out = tmp_path_factory.mktemp("figures")
    t = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "vgtheory", "figures", "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(),
        timeout=900,
    )
    dt = time.perf_counter() - t
    print(r.stderr[-4000:])
    print(f"smoke run: {dt:.1f}s (budget {SMOKE_BUDGET_S:.0f}s on an idle machine with a warm cache)")
    assert r.returncode == 0, r.stderr[-4000:]
    return out


def test_discovery_and_metadata():
    mods = _figures.discover()
    assert len(mods) >= 10
    claims = all_claims()
    for name, m in mods.items():
        assert m.NAME == name and isinstance(m.TITLE, str) and isinstance(m.SEED, int)
        assert callable(m.main) and m.main.__code__.co_varnames[:2] == ("out_dir", "smoke")
        unknown = [c for c in m.CLAIMS if c not in claims]
        assert not unknown, f"{name}: CLAIMS names unregistered ids {unknown}"
    seeds = [m.SEED for m in mods.values()]
    assert len(set(seeds)) == len(seeds), "each figure has its own seed"


@pytest.mark.parametrize("name", sorted(_figures.figure_claims()))
def test_smoke_figure_written(smoke_dir, name):
    for ext, magic in (("png", PNG_MAGIC), ("pdf", b"%PDF")):
        p = smoke_dir / f"{name}.{ext}"
        assert p.is_file(), f"{p} missing"
        data = p.read_bytes()
        assert data.startswith(magic) and len(data) > 2000
    pdf = (smoke_dir / f"{name}.pdf").read_bytes()
    assert b"CreationDate" not in pdf, "PDF must not carry a creation date (reproducibility)"


def test_script_cli_is_reproducible(smoke_dir, tmp_path):
    """A script run on its own (``--smoke --out``) reproduces the runner's files bit for bit."""
    r = subprocess.run(
        [sys.executable, os.path.join(ROOT, "paper_figures", "fig_barren.py"), "--smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    for ext in ("png", "pdf"):
        assert (tmp_path / f"barren.{ext}").read_bytes() == (smoke_dir / f"barren.{ext}").read_bytes()


def test_missing_folder_is_a_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(_figures.ENV, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="paper_figures/ not found"):
        _figures.discover()
    assert _figures.run_figures(out=str(tmp_path / "o"), smoke=True) == 2
    assert "paper_figures/ not found" in capsys.readouterr().err
    assert _figures.figure_claims() == {}


def test_unknown_figure_name(tmp_path, capsys):
    assert _figures.run_figures(out=str(tmp_path), smoke=True, only=["no_such_figure"]) == 2
    assert "no figure matches" in capsys.readouterr().err


# --------------------------------------------------------------------------------- report
def _results():
    row = dict(
        label="σ² = 1.1: E‖g₀‖²/‖g_L‖² <b>",
        prediction=117.39,
        estimate=118.2,
        se=1.5,
        n=256,
        z=0.54,
        kind="equal",
        tolerance=6.0,
        bias=0.0,
        rtol=0.0,
        planted=129.1,
        planted_rejected=True,
        verdict="confirmed",
        note="exact at any width & planted ×1.1",
    )
    nan_row = {
        **row,
        "label": "a NaN row",
        "estimate": float("nan"),
        "z": None,
        "verdict": "refuted",
        "planted_rejected": False,
    }
    claims = [
        dict(
            id="S4",
            title="Deep linear σ^{2L}",
            statement="E‖g₀‖² = σ^{2L}‖g_L‖² <script>alert(1)</script>",
            source="seed text",
            area="foundation",
            expected=True,
            verdict="confirmed",
            as_expected=True,
            seconds=1.2,
            error=None,
            comparisons=[row],
        ),
        dict(
            id="S3.xavier-tanh",
            title="textbook",
            statement="decays as κ^L",
            source="seed",
            area="foundation",
            expected=False,
            verdict="refuted",
            as_expected=True,
            seconds=0.5,
            error=None,
            comparisons=[nan_row],
        ),
        dict(
            id="L9",
            title="Barren plateaus",
            statement="Var ≈ 2^−(n+1)",
            source="McClean et al. 2018",
            area="mechanisms",
            expected=True,
            verdict="inconclusive",
            as_expected=False,
            seconds=3.0,
            error="RuntimeError('boom')",
            comparisons=[],
        ),
    ]
    return {
        "config": {"seed": 0, "full": False, "only": None, "alpha": 0.01, "k": 3.2, "argv": ["vgtheory"]},
        "environment": {
            "vgtheory": "0.1.0",
            "jax": "x",
            "backend": "cpu",
            "device_kind": "cpu",
            "date": "2026-01-01T00:00:00",
        },
        "claims": claims,
    }


class _Checker(html.parser.HTMLParser):
    VOID = {"meta", "img", "br", "hr", "link", "input", "col", "source", "area", "base", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.tags, self.ids, self.urls, self.text = [], [], [], set(), [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for k, v in attrs:
            if k == "id":
                self.ids.add(v)
            if k in ("src", "href") and v:
                self.urls.append(v)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}>, open: {self.stack[-3:]}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _check_html(text):
    c = _Checker()
    c.feed(text)
    c.close()
    assert not c.errors, c.errors[:5]
    assert not c.stack, f"unclosed tags {c.stack}"
    assert text.startswith("<!DOCTYPE html>")
    for bad in ("script", "link", "iframe", "object", "embed"):
        assert bad not in c.tags, f"<{bad}> in a self-contained report"
    assert "http://" not in text and "https://" not in text, "external resource"
    assert "@import" not in text and "url(" not in text
    for u in c.urls:
        assert u.startswith("#") or u.startswith("data:image/png;base64,"), u
    return c


def test_report_structure(smoke_dir, tmp_path):
    path = write_report(str(tmp_path), _results(), figures=str(smoke_dir), make_figures=False)
    text = open(path, encoding="utf-8").read()
    c = _check_html(text)
    assert {"verdicts", "config", "environment", "claim-S4", "claim-L9"} <= c.ids
    body = "".join(c.text)
    assert "<script>alert(1)</script>" in body  # shown as text, escaped in the markup
    assert "NOT as expected" in body and "RuntimeError" in body and "nan" in body
    imgs = [u for u in c.urls if u.startswith("data:")]
    assert len(imgs) >= 3  # S4 (deep_linear), S3.xavier-tanh (gradient_depth), L9 (barren)


def test_report_without_figures():
    text = render_report(_results())
    _check_html(text)


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        p = shutil.which(name)
        if p:
            return p
    return None


@pytest.mark.skipif(_chromium() is None, reason="no chromium on PATH: HTML validated with html.parser only")
def test_report_renders_in_headless_chromium(smoke_dir, tmp_path):
    path = write_report(str(tmp_path / "rep"), _results(), figures=str(smoke_dir), make_figures=False)
    shot = tmp_path / "shot.png"
    r = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--window-size=1280,2000",
            f"--screenshot={shot}",
            "file://" + os.path.abspath(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.is_file() and shot.stat().st_size > 10000, r.stderr[-2000:]
    assert shot.read_bytes().startswith(PNG_MAGIC)
