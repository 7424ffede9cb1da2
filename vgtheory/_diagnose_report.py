"""``diagnosis.json`` and a self-contained ``report.html`` for :func:`vgtheory.diagnose`.

The HTML uses the ``verify --report`` style sheet and embeds its figures as base64 PNGs:
no external resources, it opens from disk.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os

from ._report import CSS, format_number

LN10 = math.log(10.0)


def _clean(x):
    """JSON-safe: NaN → None, ±inf → "inf"/"-inf" strings, NumPy scalars → floats."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        try:
            x = x.item()
        except (ValueError, AttributeError):
            x = x.tolist()
            return _clean(x)
    if isinstance(x, float):
        if math.isnan(x):
            return None
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
    return x


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _arr(values):
    import numpy as np

    return np.asarray([math.nan if v is None else v for v in values], dtype=float)


def _figures(meas: dict) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def per_name(stats, names, ylabel, title, fmt):
        """mean ± 3 SE of log10 values, one point per named module or leaf."""
        fig, ax = plt.subplots(figsize=(7, 3.2))
        m, se = _arr(stats["mean"]) / LN10, _arr(stats["se"]) / LN10
        ax.errorbar(range(len(m)), m, yerr=3 * se, fmt=fmt, ms=3, capsize=2)
        ax.set_xticks(range(len(m)))
        ax.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        return _png(fig)

    figs = []
    act = meas.get("activations")
    if act and meas["modules"]:
        figs.append(
            (
                "gradient flow per module",
                per_name(
                    act,
                    meas["modules"],
                    "log10 ‖∂L/∂z‖²  (mean ± 3 SE)",
                    "gradient norm per module (call order: input → output)",
                    "o-",
                ),
            )
        )
        fig, ax = plt.subplots(figsize=(7, 2.8))
        ax.plot(_arr(act["sd"]) / LN10, marker="o", ms=3)
        ax.set_ylabel("SD of log10 ‖g‖²")
        ax.set_xlabel("module index")
        ax.set_title("spread over initialisations (finite-width signature)")
        figs.append(("spread", _png(fig)))
    par = meas.get("params")
    if par and meas["leaves"]:
        figs.append(
            (
                "gradient per parameter leaf",
                per_name(par, meas["leaves"], "log10 ‖∂L/∂θ‖²  (mean ± 3 SE)", "gradient norm per parameter leaf", "s"),
            )
        )
    jac = meas.get("jacobian")
    if jac:
        fig, ax = plt.subplots(figsize=(7, 3))
        m, se = _arr(jac["log_sv"]["mean"]) / LN10, _arr(jac["log_sv"]["se"]) / LN10
        res = _arr(jac["resolved"]["mean"]) >= 1.0
        idx = range(1, len(m) + 1)
        ax.errorbar([i for i, r in zip(idx, res) if r], m[res], yerr=3 * se[res], fmt="o", ms=3, label="resolved")
        if (~res).any():
            ax.plot(
                [i for i, r in zip(idx, res) if not r],
                m[~res],
                "x",
                color="0.6",
                label="at rounding floor (some inits)",
            )
        ax.set_xlabel("index")
        ax.set_ylabel("log10 σ_i")
        ax.set_title("input–output Jacobian singular values")
        ax.legend(fontsize=8)
        figs.append(("jacobian spectrum", _png(fig)))
    tr = meas.get("training")
    if tr:
        fig, ax = plt.subplots(figsize=(7, 3))
        top = (meas.get("hessian") or {}).get("top_members")
        head = ([0], [top[0][0]]) if top else ([], [])  # the same initialisation at step 0
        ax.plot(head[0] + tr["steps"], head[1] + tr["sharpness"], marker="o", ms=3, label="λ_max(H)")
        if "two_over_eta" in tr:
            ax.axhline(tr["two_over_eta"], ls="--", color="k", label="2/η")
        ax.set_xlabel("step")
        ax.set_ylabel("sharpness")
        ax.legend(fontsize=8)
        figs.append(("sharpness during training", _png(fig)))
    rec = meas.get("recurrent")
    if rec:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3))
        a1.plot(_arr(rec["lyapunov"]["mean"]), marker=".")
        a1.set_title("Lyapunov spectrum")
        a1.set_xlabel("i")
        a1.set_ylabel("λ_i per step")
        a2.plot(rec["lag"], _arr(rec["bptt"]["mean"]) / LN10)
        a2.set_xlabel("T − t")
        a2.set_ylabel("log10 ‖∂L/∂h_t‖")
        a2.set_title("BPTT")
        figs.append(("recurrent dynamics", _png(fig)))
    return figs


def _html(diag, figs) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(f['topic'])}</td><td>{e(f['verdict'])}</td><td>{e(f['text'])}</td></tr>" for f in diag.findings
    )
    cfg = "".join(
        f"<tr><td>{e(str(k))}</td><td><code>{e(json.dumps(_clean(v)))}</code></td></tr>" for k, v in diag.config.items()
    )
    imgs = "".join(
        f'<figure><img alt="{e(t)}" src="data:image/png;base64,{b}"><figcaption>{e(t)}</figcaption></figure>'
        for t, b in figs
    )
    hess = diag.measurements.get("hessian") or {}
    hrows = ""
    if "top" in hess:
        for name in ("top", "bottom"):
            for i, (m, s) in enumerate(zip(hess[name]["mean"], hess[name]["se"])):
                hrows += f"<tr><td>{name} {i + 1}</td><td class=num>{format_number(m)}</td><td class=num>{format_number(s)}</td></tr>"
        hrows = f"<h2>Hessian eigenvalues</h2><table><tr><th>which</th><th>mean</th><th>SE</th></tr>{hrows}</table>"
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>vgtheory diagnose: {e(diag.config['name'])}"
        f"</title><style>{CSS}</style></head><body><h1>Gradient health: {e(diag.config['name'])}</h1>"
        f"<p class=small>{diag.config['members']} initialisations; every number is mean ± SE over them "
        f"unless said; all numbers are in <code>diagnosis.json</code>.</p>"
        f"<h2>Findings</h2><table><tr><th>topic</th><th>verdict</th><th>evidence</th></tr>{rows}</table>"
        f"<h2>Figures</h2>{imgs}{hrows}<h2>Configuration</h2><table>{cfg}</table></body></html>"
    )


def write(diag, out: str) -> dict:
    """Writes ``out/diagnosis.json`` and ``out/report.html``; returns their paths."""
    from ._cli import environment

    os.makedirs(out, exist_ok=True)
    payload = {
        "findings": diag.findings,
        "measurements": diag.measurements,
        "config": diag.config,
        "nonfinite": diag.nonfinite,
        "environment": environment(),
    }
    jpath = os.path.join(out, "diagnosis.json")
    with open(jpath, "w") as f:
        json.dump(_clean(payload), f, indent=1, allow_nan=False)
    hpath = os.path.join(out, "report.html")
    with open(hpath, "w") as f:
        f.write(_html(diag, _figures(diag.measurements)))
    return {"json": jpath, "html": hpath}
