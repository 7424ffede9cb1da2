"""A self-contained HTML report of a ``vgtheory verify`` run (``--report DIR``).

One file, ``DIR/report.html``, that opens from disk in any browser: the verdict table, each
claim with its statement, source, comparison rows and, where a paper figure illustrates it,
that figure embedded as a base64 PNG; the configuration, seeds, versions and device. No
external resources (no scripts, fonts, stylesheets or images from the network).
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import zlib

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:1.5em auto;
max-width:1200px;padding:0 1em;color:#1b1b1b;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ccc}
h3{font-size:1.05em}table{border-collapse:collapse;margin:.6em 0;font-size:.86em}
th,td{border:1px solid #d0d0d0;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.confirmed{background:#dff3e3}.refuted{background:#fbe0e0}.inconclusive{background:#fdf3d7}
.no{color:#b00020;font-weight:bold}.yes{color:#1b6e2a}.small{font-size:.85em;color:#555}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #e3e3e3}
figcaption{font-size:.85em;color:#444}code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto}.statement{background:#f7f9fc;padding:.5em .8em;
border-left:3px solid #0072B2}
"""


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def format_number(x) -> str:
    if x is None:
        return "—"
    try:
        x = float(x)
    except (TypeError, ValueError):
        return _e(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.4g}"


def _anchor(cid: str) -> str:
    return "claim-" + "".join(c if c.isalnum() else "-" for c in cid)


def _figures_for(claim_ids, figures: str | None, out_dir: str, make_figures: bool, full: bool):
    """{claim id: [(figure name, png path, note)]} from existing PNGs, generating missing ones."""
    from ._figures import figure_claims

    fc = figure_claims()
    wanted = {name: cl for name, cl in fc.items() if any(c in claim_ids for c in cl)}
    if not wanted:
        return {}, "paper_figures/ is not available (installed package?): no figures embedded." if not fc else ""
    dirs = [
        d
        for d in (figures, os.environ.get("VGTHEORY_REPORT_FIGURES"), os.path.join(out_dir, "figures"), "figures_out")
        if d
    ]
    found = {}
    for name in wanted:
        for d in dirs:
            p = os.path.join(d, name + ".png")
            if os.path.isfile(p):
                found[name] = (p, f"from {os.path.abspath(d)}")
                break
    missing = [n for n in wanted if n not in found]
    note = ""
    if missing and make_figures:
        from ._figures import run_figures

        gen = os.path.join(out_dir, "figures")
        smoke = not full
        run_figures(out=gen, smoke=smoke, only=missing)
        for name in missing:
            p = os.path.join(gen, name + ".png")
            if os.path.isfile(p):
                found[name] = (
                    p,
                    "generated for this report"
                    + (" at smoke size (run `vgtheory figures` for the full-size figure)" if smoke else ""),
                )
    elif missing:
        note = f"figures not found: {', '.join(missing)} (run `vgtheory figures`)."
    by_claim: dict[str, list] = {}
    for name, cl in wanted.items():
        if name in found:
            for c in cl:
                by_claim.setdefault(c, []).append((name, *found[name]))
    return by_claim, note


def _img(path: str) -> str:
    with open(path, "rb") as f:
        data = base64.b64encode(f.read()).decode("ascii")
    return f'<img alt="{_e(os.path.basename(path))}" src="data:image/png;base64,{data}">'


def _verdict_table(claims) -> str:
    rows = [
        "<table id=verdicts><thead><tr><th>claim</th><th>title</th><th>source</th><th>expected</th>"
        "<th>verdict</th><th>as expected</th><th>rows</th><th>time</th></tr></thead><tbody>"
    ]
    for c in claims:
        ok = c.get("as_expected")
        rows.append(
            f'<tr><td><a href="#{_anchor(c["id"])}">{_e(c["id"])}</a></td><td>{_e(c.get("title", ""))}</td>'
            f"<td class=small>{_e(c.get('source', ''))}</td><td>{'holds' if c.get('expected', True) else 'fails'}</td>"
            f'<td class="{_e(c.get("verdict", ""))}">{_e(c.get("verdict", ""))}</td>'
            f'<td class="{"yes" if ok else "no"}">{"yes" if ok else "NO"}</td>'
            f"<td class=num>{len(c.get('comparisons', []))}</td><td class=num>{format_number(c.get('seconds'))} s</td></tr>"
        )
    rows.append("</tbody></table>")
    return "\n".join(rows)


def _reason_note(r: dict) -> str:
    """The row's note, led by why it is inconclusive when its normal approximation is untrusted."""
    reason, note = r.get("reason") or "", r.get("note", "") or ""
    return f"inconclusive: {reason}. {note}" if reason else note


def _rows_table(comps) -> str:
    head = (
        "comparison",
        "kind",
        "prediction",
        "estimate ± SE",
        "n",
        "z",
        "tolerance",
        "bias",
        "planted",
        "planted rejected",
        "verdict",
        "note",
    )
    out = ["<table class=rows><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"]
    for r in comps:
        out.append(
            f"<tr><td>{_e(r.get('label', ''))}</td><td>{_e(r.get('kind', ''))}</td>"
            f"<td class=num>{format_number(r.get('prediction'))}</td>"
            f"<td class=num>{format_number(r.get('estimate'))} ± {format_number(r.get('se'))}</td><td class=num>{_e(r.get('n', ''))}</td>"
            f"<td class=num>{format_number(r.get('z'))}</td><td class=num>{format_number(r.get('tolerance'))}</td>"
            f"<td class=num>{format_number(r.get('bias'))}</td><td class=num>{format_number(r.get('planted'))}</td>"
            f"<td>{'yes' if r.get('planted_rejected') else 'no'}</td>"
            f'<td class="{_e(r.get("verdict", ""))}">{_e(r.get("verdict", ""))}</td>'
            f"<td class=small>{_e(_reason_note(r))}</td></tr>"
        )
    out.append("</tbody></table>")
    return "\n".join(out)


def _kv_table(d: dict, table_id: str) -> str:
    rows = "".join(
        f"<tr><th>{_e(k)}</th><td>{_e(json.dumps(v, ensure_ascii=False, default=str))}</td></tr>" for k, v in d.items()
    )
    return f"<table id={table_id}><tbody>{rows}</tbody></table>"


def render_report(results: dict, figures_by_claim: dict | None = None, figures_note: str = "") -> str:
    """The report as an HTML string (see :func:`write_report`)."""
    figures_by_claim = figures_by_claim or {}
    claims = results.get("claims", [])
    cfg, env = results.get("config", {}), results.get("environment", {})
    counts = {v: sum(c.get("verdict") == v for c in claims) for v in ("confirmed", "refuted", "inconclusive")}
    bad = [c["id"] for c in claims if not c.get("as_expected")]
    seed = cfg.get("seed", 0)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>vgtheory verify report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>vgtheory: verdicts on the theory of vanishing and exploding gradients</h1>",
        f"<p class=small>{_e(env.get('date', ''))} · {'full' if cfg.get('full') else 'quick'} settings · seed "
        f"{_e(seed)} · {_e(env.get('backend', '?'))} ({_e(env.get('device_kind', '?'))}) · jax {_e(env.get('jax', '?'))}"
        f" · vgtheory {_e(env.get('vgtheory', '?'))}</p>",
        f"<p><b>{len(claims)} claims</b>, {sum(len(c.get('comparisons', [])) for c in claims)} comparisons, "
        f"Bonferroni k = {format_number(cfg.get('k'))} (family-wise α = {format_number(cfg.get('alpha'))}): "
        f"{counts['confirmed']} confirmed, {counts['refuted']} refuted, {counts['inconclusive']} inconclusive. "
        + ("All claims as expected." if not bad else f"<span class=no>Not as expected: {_e(', '.join(bad))}</span>")
        + "</p>",
        "<p class=small>Verdict rule: tolerance = k·SE + bias + rtol·|prediction|; refuted if the estimate is outside; "
        "inconclusive if the planted wrong prediction is also inside (no power); else confirmed. A claim expected to "
        "fail (a textbook statement the simulation refutes) is as expected when refuted; its corrected twin is checked "
        "separately.</p>",
        "<h2 id=verdict-table>Verdict table</h2>",
        _verdict_table(claims),
    ]
    if figures_note:
        parts.append(f"<p class=small>{_e(figures_note)}</p>")
    parts.append("<h2>Claims</h2>")
    for c in claims:
        parts += [
            f'<section id="{_anchor(c["id"])}"><h3>{_e(c["id"])}: {_e(c.get("title", ""))}</h3>',
            f'<p>Verdict: <span class="{_e(c.get("verdict", ""))}">&nbsp;{_e(c.get("verdict", ""))}&nbsp;</span> · '
            f"expected to {'hold' if c.get('expected', True) else 'fail'} · "
            f"{'as expected' if c.get('as_expected') else '<span class=no>NOT as expected</span>'} · area "
            f"{_e(c.get('area', ''))} · {format_number(c.get('seconds'))} s · key = fold_in(key({_e(seed)}), "
            f"{zlib.crc32(c['id'].encode()) & 0x7FFFFFFF})</p>",
            f"<p class=statement>{_e(c.get('statement', ''))}</p>",
            f"<p class=small>Source: {_e(c.get('source', ''))}"
            + (f" · defined as {_e(c['origin'])}" if c.get("origin") else "")
            + "</p>",
        ]
        if c.get("error"):
            parts.append(f"<pre class=no>error: {_e(c['error'])}</pre>")
        parts.append(_rows_table(c.get("comparisons", [])))
        for name, path, how in figures_by_claim.get(c["id"], []):
            parts.append(
                f"<figure>{_img(path)}<figcaption>Figure <code>{_e(name)}</code> "
                f"(paper_figures/fig_{_e(name)}.py), {_e(how)}.</figcaption></figure>"
            )
        parts.append("</section>")
    parts += [
        "<h2 id=configuration>Configuration and seeds</h2>",
        "<p class=small>Claim c runs with key fold_in(jax.random.key(seed), crc32(c) &amp; 0x7FFFFFFF), "
        "independent of which other claims run; each figure script has its own fixed seed.</p>",
        _kv_table(cfg, "config"),
        "<h2 id=environment>Versions and device</h2>",
        _kv_table(env, "environment"),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_report(out_dir: str, results: dict, figures: str | None = None, make_figures: bool = True) -> str:
    """Writes ``out_dir/report.html`` for ``results`` (the JSON of ``vgtheory verify``); returns its path.

    Args:
      out_dir: folder (created).
      results: ``{"config", "environment", "claims"}`` as ``vgtheory verify --json`` writes.
      figures: folder of figure PNGs to embed (searched first); then ``$VGTHEORY_REPORT_FIGURES``,
        ``out_dir/figures`` and ``./figures_out`` (the default of ``vgtheory figures``).
      make_figures: generate missing figures into ``out_dir/figures`` (smoke size unless the run
        was ``--full``). Figures need the repository's ``paper_figures/``; without it the report
        says so and embeds none.
    """
    os.makedirs(out_dir, exist_ok=True)
    ids = {c["id"] for c in results.get("claims", [])}
    by_claim, note = _figures_for(ids, figures, out_dir, make_figures, bool(results.get("config", {}).get("full")))
    path = os.path.join(out_dir, "report.html")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(render_report(results, by_claim, note))
    os.replace(tmp, path)
    return path
