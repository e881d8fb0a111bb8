"""The paper's two views of the guidance trade-off, drawn from an eval report (adm.eval's tradeoff.png):
precision (fidelity) and recall (diversity) against the guidance scale, one curve per mode with its 95 %
intervals, and the Inception-Score analogue against the Fréchet distance, each point one scale."""
from __future__ import annotations

from typing import Dict, List, Tuple

from .plot import GREY, color, line_chart, nice_ticks

TITLES = {"cond": "classifier (conditional U-Net)", "uncond": "classifier (null label)", "classifier": "classifier",
          "cfg": "classifier-free", "both": "both"}


def _fmt(v: float) -> str:
    return f"{v:g}"


def tradeoff_curves(report: Dict) -> List[Tuple[str, List[Dict], List[float]]]:
    """(name, rows, x values) per curve in scale order: classifier modes against s, cfg against w, both against s
    at each w (its s = 0 point is the cfg row with that w, when the eval has it)."""
    rows = report["results"]
    curves = []
    for mode in report["settings"]["modes"]:
        rs = [r for r in rows if r["mode"] == mode]
        if mode == "cfg":
            rs = sorted(rs, key=lambda r: r["cfgScale"])
            curves.append((f"{TITLES[mode]} (w)", rs, [r["cfgScale"] for r in rs]))
        elif mode == "both":
            for w in sorted({r["cfgScale"] for r in rs}):
                start = [r for r in rows if r["mode"] == "cfg" and r["cfgScale"] == w]
                pts = start[:1] + sorted((r for r in rs if r["cfgScale"] == w), key=lambda r: r["scale"])
                curves.append((f"{TITLES[mode]} (s, w = {_fmt(w)})", pts, [0.0 if r["mode"] == "cfg" else r["scale"]
                                                                           for r in pts]))
        else:
            rs = sorted(rs, key=lambda r: r["scale"])
            curves.append((f"{TITLES[mode]} (s)", rs, [r["scale"] for r in rs]))
    return curves


def _interval(r: Dict, key: str, side: int):
    ci = (r.get("ci") or {}).get(key)
    return None if ci is None else ci[side]


def plot_tradeoff(report: Dict, path: str) -> str:
    curves = tradeoff_curves(report)
    values = sorted({x for _, _, xs in curves for x in xs})
    pos = {v: i for i, v in enumerate(values)}
    xticks = [(i, _fmt(v)) for i, v in enumerate(values)]
    xlabel = "guidance scale (categorical): classifier s, CFG w"
    ref = report["reference"].get("trainSameSize", {})

    def series(key):
        return [dict(name=name, x=[pos[x] for x in xs], y=[r.get(key) for r in rs], color=color(i),
                     lo=[_interval(r, key, 0) for r in rs], hi=[_interval(r, key, 1) for r in rs])
                for i, (name, rs, xs) in enumerate(curves)]

    def real_line(key, what):
        return [dict(name=f"real train images vs val ({what} {ref[key]:.2f})", y=ref[key], color=GREY)] \
            if ref.get(key) is not None else []

    fds = [r["fd"] for _, rs, _ in curves for r in rs if r.get("fd") is not None] or [0.0, 1.0]
    panels = [
        dict(title="Precision (fidelity) against the scale", xlabel=xlabel, ylabel="precision", xticks=xticks,
             series=series("precision"), ymin=0.0, ymax=1.0, hlines=real_line("precision", "precision")),
        dict(title="Recall (diversity) against the scale", xlabel=xlabel, ylabel="recall", xticks=xticks,
             series=series("recall"), ymin=0.0, ymax=1.0, hlines=real_line("recall", "recall")),
        dict(title="Inception Score against Fréchet distance", xlabel="Fréchet distance (judge features)",
             ylabel="Inception Score (judge softmax)", xticks=[(t, f"{t:g}") for t in nice_ticks(min(fds), max(fds))],
             series=[dict(name=name, x=[r["fd"] for r, _ in pts], y=[r["inceptionScore"] for r, _ in pts],
                          labels=[_fmt(x) for _, x in pts], color=color(i)) for i, (name, pts) in enumerate(
                 (name, [(r, x) for r, x in zip(rs, xs) if r.get("fd") is not None and r.get("inceptionScore") is not None])
                 for name, rs, xs in curves)],
             ymin=1.0, hlines=[dict(name=f"real val images (IS {report['reference']['val']['inceptionScore']:.2f})",
                                    y=report["reference"]["val"].get("inceptionScore"), color=GREY)]),
    ]
    s = report["settings"]
    n = s["samplesPerClass"] * len(report["classes"])
    sub = (f"{n} samples per point ({s['samplesPerClass']}/class), {s['respacing']} {'DDIM' if s['ddim'] else 'DDPM'}, "
           f"seed {s['seed']}; features and softmax of the eval's judge, not Inception; bars: 95% bootstrap intervals; "
           f"IS points labelled with their scale")
    return line_chart(path, panels, title=f"Guidance trade-off on pack {report['pack']}: precision, recall, IS, FD",
                      subtitle=sub)
