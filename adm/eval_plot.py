"""eval.png, the plot of an eval report (adm.eval): fidelity, Fréchet distance and log p against the scale per mode,
and with classifier-free rows the modes' trade-off of FD against accuracy."""
from __future__ import annotations

from typing import Dict, List, Tuple

from .plot import GREY, color, line_chart, nice_ticks
from .eval_rows import MODE_TITLES, fmt_scale


def _curves(report: Dict) -> List[Tuple[str, List[Dict], str]]:
    """(name, rows, x key) per plotted curve: one per mode against its scale (cfg: against w), and for "both"
    one per cfg scale w against the classifier scale s."""
    curves = []
    for mode in report["settings"]["modes"]:
        rs = [r for r in report["results"] if r["mode"] == mode]
        if mode == "both":
            for w in sorted({r.get("cfgScale", 0.0) for r in rs}):
                curves.append((f"{MODE_TITLES[mode]}, w={fmt_scale(w)}", [r for r in rs if r.get("cfgScale") == w], "scale"))
        else:
            curves.append((MODE_TITLES[mode], rs, "cfgScale" if mode == "cfg" else "scale"))
    return curves


def plot_report(report: Dict, path: str) -> str:
    curves = _curves(report)
    has_cfg = any(md in ("cfg", "both") for md in report["settings"]["modes"])
    values = set(report["settings"]["scales"]) if any(md != "cfg" for md in report["settings"]["modes"]) else set()
    values |= {r.get(key, 0.0) for _, rs, key in curves for r in rs}
    scales = sorted(values)
    pos = {s: i for i, s in enumerate(scales)}
    xticks = [(i, fmt_scale(s)) for i, s in enumerate(scales)]
    xlabel = "guidance scale: classifier s, CFG w (categorical)" if has_cfg else "classifier scale (categorical)"
    ref = report["reference"]

    def series(key, mult=1.0, suffix=""):
        return [dict(name=name + suffix, x=[pos[r.get(xkey, 0.0)] for r in rs],
                     y=[None if r[key] is None else r[key] * mult for r in rs], color=color(i))
                for i, (name, rs, xkey) in enumerate(curves)]

    n = report["settings"]["samplesPerClass"]
    k = len(report["classes"])
    panels = [
        dict(title="Fidelity: judge accuracy on the requested class", xlabel=xlabel,
             ylabel="judge accuracy (%)", xticks=xticks, series=series("judgeAccuracy", 100.0), ymin=0.0,
             hlines=[dict(name=f"real val images ({100 * ref['val']['judgeAccuracy']:.1f}%)",
                          y=100 * ref["val"]["judgeAccuracy"], color=GREY),
                     dict(name=f"chance ({100 * ref['chance']:.0f}%)", y=100 * ref["chance"], color=(170, 170, 170))],
             ),
        dict(title="Judge-feature Fréchet distance to val (lower = better)", xlabel=xlabel,
             ylabel="Fréchet distance", xticks=xticks, series=series("fd"), ymin=0.0,
             hlines=[dict(name=f"real train, {n}/class (floor at this N)", y=ref["trainSameSize"]["fd"], color=GREY),
                     dict(name=f"real train, {ref['trainLarge']['perClass']}/class", y=ref["trainLarge"]["fd"],
                          color=(170, 170, 170))],
             ),
        dict(title="Mean log p(requested class | sample)", xlabel=xlabel, ylabel="log p",
             xticks=xticks, series=series("judgeLogp", suffix=": judge") + [
                 dict(s, name=s["name"].replace(": judge", ": guidance classifier"), color=color(i + 2))
                 for i, s in enumerate(series("classifierLogp", suffix=": judge"))],
             hlines=[dict(name="judge on real val images", y=ref["val"]["judgeLogp"], color=GREY)],
             ),
    ]
    title = f"Classifier guidance on pack {report['pack']}: fidelity vs diversity"
    if has_cfg:
        # The modes side by side: FD against accuracy, each point one scale, with the sampling cost per image.
        trade = []
        for i, (name, rs, xkey) in enumerate(curves):
            pts = sorted((r for r in rs if r["judgeAccuracy"] is not None), key=lambda r: r.get(xkey, 0.0))
            timed = [r for r in rs if r.get("msPerImage") is not None]
            ms = [r["msPerImage"] for r in timed if r.get(xkey, 0.0) != 0] or [r["msPerImage"] for r in timed]
            cost = f", {sum(ms) / len(ms):.0f} ms/image guided" if ms else ""
            trade.append(dict(name=name + cost, x=[100 * r["judgeAccuracy"] for r in pts], y=[r["fd"] for r in pts],
                              color=color(i)))
        acc = [v for s in trade for v in s["x"]] or [0.0, 100.0]
        panels.append(dict(title="Trade-off: Fréchet distance vs judge accuracy", xlabel="judge accuracy (%)",
                           ylabel="Fréchet distance", xticks=[(t, f"{t:g}") for t in nice_ticks(min(acc), max(acc))],
                           series=trade, ymin=0.0,
                           hlines=[dict(name="real train (floor at this N)", y=ref["trainSameSize"]["fd"], color=GREY)]))
        title = f"Classifier and classifier-free guidance on pack {report['pack']}: fidelity vs diversity"
    sub = (f"{n} samples/class x {k} classes per point, {report['settings']['respacing']} "
           f"{'DDIM' if report['settings']['ddim'] else 'DDPM'}, seed {report['settings']['seed']}; judge: "
           f"ResNet {report['judge']['params'] / 1e6:.2f}M params, {report['judge']['imageSize']}px, "
           f"{report['judge']['featureDim']}-d features")
    return line_chart(path, panels, title=title, subtitle=sub)
