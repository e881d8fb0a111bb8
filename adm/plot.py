"""Line charts drawn with PIL only (no matplotlib): a row of panels sharing one title and legend style.

A panel is a dict:
    title, xlabel, ylabel: str
    xticks: list of (position, label) - x positions are plain numbers (the eval uses 0..k-1, one per scale)
    series: list of {name, x: [..], y: [..], color: (r,g,b)}   (None in y leaves a gap)
            optional lo/hi: [..] (an interval per point, drawn as a vertical whisker; None: none)
            and labels: [..] (text beside each point)
    hlines: list of {name, y, color}                           (dashed reference lines)
    ymin, ymax: optional values the y range must include
The legend goes under each panel's axes.
"""
from __future__ import annotations

import math
import os
from typing import Dict, List, Sequence, Tuple

from PIL import Image, ImageDraw, ImageFont

Color = Tuple[int, int, int]
PALETTE: List[Color] = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189),
                        (140, 86, 75)]
GREY: Color = (110, 110, 110)

_FONT_FILES = ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
               "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
               "/usr/share/fonts/TTF/DejaVuSans.ttf", "/Library/Fonts/Arial.ttf", "C:/Windows/Fonts/arial.ttf")


def font(size: int):
    for f in _FONT_FILES:
        try:
            return ImageFont.truetype(f, size)
        except OSError:
            continue
    return ImageFont.load_default()  # small bitmap font: still legible


def _text_size(draw: ImageDraw.ImageDraw, text: str, fnt) -> Tuple[int, int]:
    l, t, r, b = draw.textbbox((0, 0), text, font=fnt)
    return r - l, b - t


def nice_ticks(lo: float, hi: float, target: int = 5) -> List[float]:
    """Round tick values (1, 2, 5 x 10^k steps) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi - lo < 1e-12:
        pad = abs(hi) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(1, target)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step + 1e-9) * step
    ticks, v = [], first
    while v < hi + step * 0.999:
        ticks.append(round(v, 12))
        v += step
    return ticks


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000 or abs(v) < 0.01:
        return f"{v:.2g}"
    return f"{v:.2f}".rstrip("0").rstrip(".")


def _dashed(draw, p0, p1, color, width=2, dash=8, gap=6):
    (x0, y0), (x1, y1) = p0, p1
    length = math.hypot(x1 - x0, y1 - y0)
    if length == 0:
        return
    dx, dy = (x1 - x0) / length, (y1 - y0) / length
    s = 0.0
    while s < length:
        e = min(length, s + dash)
        draw.line([(x0 + dx * s, y0 + dy * s), (x0 + dx * e, y0 + dy * e)], fill=color, width=width)
        s = e + gap


LEGEND_ROW = 20


def _legend_entries(panel: Dict) -> List[Tuple[str, Color, bool]]:
    entries = [(s["name"], s.get("color", PALETTE[0]), False) for s in panel.get("series", [])]
    entries += [(h["name"], h.get("color", GREY), True) for h in panel.get("hlines", []) if h.get("y") is not None]
    return entries


def _draw_panel(img: Image.Image, draw: ImageDraw.ImageDraw, box: Tuple[int, int, int, int], panel: Dict, fonts: Dict,
                legend_rows: int) -> None:
    x0, y0, x1, y1 = box
    title_h = 34
    legend_h = LEGEND_ROW * legend_rows + 8 if legend_rows else 0
    left, right, top, bottom = x0 + 78, x1 - 16, y0 + title_h + 8, y1 - 62 - legend_h
    tw, _ = _text_size(draw, panel.get("title", ""), fonts["panel"])
    draw.text(((x0 + x1 - tw) / 2, y0 + 4), panel.get("title", ""), fill=(0, 0, 0), font=fonts["panel"])

    series = panel.get("series", [])
    hlines = panel.get("hlines", [])
    ys = [v for s in series for key in ("y", "lo", "hi") for v in s.get(key) or [] if v is not None and math.isfinite(v)]
    ys += [h["y"] for h in hlines if h.get("y") is not None and math.isfinite(h["y"])]
    ylo, yhi = (min(ys), max(ys)) if ys else (0.0, 1.0)
    if panel.get("ymin") is not None:
        ylo = min(ylo, panel["ymin"])
    if panel.get("ymax") is not None:
        yhi = max(yhi, panel["ymax"])
    yticks = nice_ticks(ylo, yhi + 0.03 * (yhi - ylo))  # a little headroom: markers at the maximum stay inside
    ylo, yhi = min(yticks[0], ylo), max(yticks[-1], yhi)
    xs = [p for p, _ in panel.get("xticks", [])] + [v for s in series for v in s["x"]]
    xlo, xhi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if xhi - xlo < 1e-12:
        xlo, xhi = xlo - 1, xhi + 1
    xpad = 0.06 * (xhi - xlo)
    xlo, xhi = xlo - xpad, xhi + xpad

    def px(x):
        return left + (x - xlo) / (xhi - xlo) * (right - left)

    def py(y):
        return bottom - (y - ylo) / (yhi - ylo) * (bottom - top)

    # grid, ticks, labels
    for t in yticks:
        y = py(t)
        draw.line([(left, y), (right, y)], fill=(228, 228, 228), width=1)
        draw.line([(left - 5, y), (left, y)], fill=(0, 0, 0), width=1)
        w, h = _text_size(draw, _fmt(t), fonts["tick"])
        draw.text((left - 9 - w, y - h / 2 - 2), _fmt(t), fill=(0, 0, 0), font=fonts["tick"])
    for p, label in panel.get("xticks", []):
        x = px(p)
        draw.line([(x, top), (x, bottom)], fill=(238, 238, 238), width=1)
        draw.line([(x, bottom), (x, bottom + 5)], fill=(0, 0, 0), width=1)
        w, _ = _text_size(draw, label, fonts["tick"])
        draw.text((x - w / 2, bottom + 8), label, fill=(0, 0, 0), font=fonts["tick"])
    draw.rectangle([left, top, right, bottom], outline=(0, 0, 0), width=1)
    xl = panel.get("xlabel", "")
    w, _ = _text_size(draw, xl, fonts["label"])
    draw.text(((left + right - w) / 2, bottom + 32), xl, fill=(0, 0, 0), font=fonts["label"])
    yl = panel.get("ylabel", "")
    if yl:
        w, h = _text_size(draw, yl, fonts["label"])
        label = Image.new("RGBA", (w + 4, h + 8), (255, 255, 255, 0))
        ImageDraw.Draw(label).text((2, 0), yl, fill=(0, 0, 0, 255), font=fonts["label"])
        label = label.rotate(90, expand=True)
        img.paste(label, (int(x0 + 6), int((top + bottom - label.height) / 2)), label)

    # reference lines, then series on top
    for h in hlines:
        if h.get("y") is None or not math.isfinite(h["y"]):
            continue
        _dashed(draw, (left + 1, py(h["y"])), (right - 1, py(h["y"])), h.get("color", GREY), width=2)
    for s in series:
        pts = [(px(x), py(y)) for x, y in zip(s["x"], s["y"]) if y is not None and math.isfinite(y)]
        color = s.get("color", PALETTE[0])
        if len(pts) > 1:
            draw.line(pts, fill=color, width=3, joint="curve")
        for x, lo, hi in zip(s["x"], s.get("lo") or [], s.get("hi") or []):
            if lo is not None and hi is not None:
                draw.line([(px(x), py(lo)), (px(x), py(hi))], fill=color, width=1)
                for v in (lo, hi):
                    draw.line([(px(x) - 4, py(v)), (px(x) + 4, py(v))], fill=color, width=1)
        for x, y in pts:
            draw.ellipse([x - 5, y - 5, x + 5, y + 5], fill=color, outline=(255, 255, 255))
        for x, y, text in zip(s["x"], s["y"], s.get("labels") or []):
            if text and y is not None and math.isfinite(y):
                draw.text((px(x) + 7, py(y) - 17), text, fill=color, font=fonts["tick"])

    # legend under the axes (never over the data), one row per entry
    entries = _legend_entries(panel)
    if entries:
        wmax = max(_text_size(draw, n, fonts["legend"])[0] for n, _, _ in entries)
        bw, bh = wmax + 48, LEGEND_ROW * len(entries) + 8
        lx, ly = max(x0 + 4, (left + right - bw) / 2), bottom + 58
        draw.rectangle([lx, ly, lx + bw, ly + bh], fill=(255, 255, 255), outline=(170, 170, 170))
        for i, (name, col, dashed) in enumerate(entries):
            cy = ly + 4 + LEGEND_ROW * i + LEGEND_ROW / 2
            if dashed:
                _dashed(draw, (lx + 6, cy), (lx + 36, cy), col, width=2, dash=6, gap=4)
            else:
                draw.line([(lx + 6, cy), (lx + 36, cy)], fill=col, width=3)
                draw.ellipse([lx + 17, cy - 4, lx + 25, cy + 4], fill=col)
            _, th = _text_size(draw, name, fonts["legend"])
            draw.text((lx + 42, cy - th / 2 - 3), name, fill=(0, 0, 0), font=fonts["legend"])


def line_chart(path: str, panels: Sequence[Dict], title: str = "", subtitle: str = "",
               panel_size: Tuple[int, int] = (520, 440)) -> str:
    """Draws the panels side by side under a title and writes a PNG (atomically); returns the path."""
    fonts = dict(title=font(22), sub=font(14), panel=font(17), label=font(15), tick=font(13), legend=font(13))
    pw, ph = panel_size
    rows = max((len(_legend_entries(p)) for p in panels), default=0)
    ph += LEGEND_ROW * rows + 8 if rows else 0
    head = 40 + (22 if subtitle else 0)
    img = Image.new("RGB", (pw * max(1, len(panels)) + 20, ph + head + 18), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    if title:
        w, _ = _text_size(draw, title, fonts["title"])
        draw.text(((img.width - w) / 2, 8), title, fill=(0, 0, 0), font=fonts["title"])
    if subtitle:
        w, _ = _text_size(draw, subtitle, fonts["sub"])
        draw.text(((img.width - w) / 2, 38), subtitle, fill=(70, 70, 70), font=fonts["sub"])
    for i, panel in enumerate(panels):
        _draw_panel(img, draw, (10 + i * pw, head, 10 + (i + 1) * pw, head + ph), panel, fonts, rows)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp.png"
    img.save(tmp)
    os.replace(tmp, path)
    return path


def color(i: int) -> Color:
    return PALETTE[i % len(PALETTE)]


