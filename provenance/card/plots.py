"""The card's charts as PNG bytes (matplotlib's Agg canvas, object API, no pyplot state, no fonts fetched):
the funnel, horizontal bars, quality-score histograms per source, mixture weights against tokens seen."""

from __future__ import annotations

import io
import math

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

BLUE, ORANGE, GREY = "#3b6ea8", "#e08a2c", "#8a8a8a"
STYLE = {"font.size": 9, "axes.spines.top": False, "axes.spines.right": False}


def png(chart) -> bytes:
    import matplotlib
    with matplotlib.rc_context(STYLE):
        fig = {"funnel": funnel, "bars": bars, "hist": hist, "mixture": mixture}[chart.kind](chart.data)
        fig.text(0.01, 0.995, chart.title, fontsize=10, ha="left", va="top")
        FigureCanvasAgg(fig)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=96, metadata={"Software": None})
    return buf.getvalue()


def compact(v: float, _pos=None) -> str:
    """Axis numbers as 950, 12k, 3.4M (not matplotlib's 1e6 offset)."""
    for div, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{unit}"
    return f"{v:.3g}"


def _frame(labels: list[str], rows: float, width: float = 8.5) -> tuple[Figure, object]:
    """A figure with one axes whose left margin fits the longest label (no tight-bbox second draw)."""
    height = 0.32 * rows + 1.0
    fig = Figure(figsize=(width, height))
    left = min(0.5, 0.09 + 0.0085 * max((len(str(s)) for s in labels), default=4))
    ax = fig.add_axes((left, 0.55 / height, 0.93 - left, 1 - 1.0 / height))
    return fig, ax


def funnel(d: dict) -> Figure:
    steps, docs, nbytes = d["steps"], d["docs"], d["bytes"]
    fig, ax = _frame(steps, len(steps) * 1.1)
    ref_d, ref_b = docs[0] or 1, nbytes[0] or 1
    ax.barh([i - 0.2 for i in range(len(steps))], [n / ref_d for n in docs], height=0.4, color=BLUE,
            label="documents")
    ax.barh([i + 0.2 for i in range(len(steps))], [b / ref_b for b in nbytes], height=0.4, color=ORANGE,
            label="bytes")
    for i, n in enumerate(docs):
        ax.text(n / ref_d + 0.01, i - 0.2, f"{n:,} ({n / ref_d:.0%})", va="center", fontsize=7)
    ax.set_yticks(range(len(steps)), steps)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.3)
    ax.set_xlabel("share of what the reader produced")
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, frameon=False, fontsize=8)
    return fig


def bars(d: dict) -> Figure:
    labels, values = d["labels"], d["values"]
    fig, ax = _frame(labels, len(labels))
    log = bool(d.get("log")) and max(values, default=0) > 0
    ax.barh(range(len(labels)), values, color=BLUE, log=log)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:,}", va="center", fontsize=7)
    ax.set_xlim(0.5 if log else 0, max(values, default=1) * (3 if log else 1.18) or 1)
    ax.xaxis.set_major_formatter(FuncFormatter(compact))
    return fig


def hist(d: dict) -> Figure:
    edges, sources = d["edges"], d["sources"]
    cols = min(3, len(sources)) or 1
    rows = math.ceil(len(sources) / cols) or 1
    fig = Figure(figsize=(8.5, 1.8 * rows + 0.6))
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True)
    fig.subplots_adjust(left=0.06, right=0.98, top=1 - 0.45 / (1.8 * rows + 0.6), bottom=0.45 / (1.8 * rows + 0.6),
                        hspace=0.5, wspace=0.25)
    for ax in axes.flat[len(sources):]:
        ax.axis("off")
    for ax, (name, counts) in zip(axes.flat, sources.items()):
        ax.bar(edges[:-1], counts, width=edges[1] - edges[0], align="edge", color=BLUE, edgecolor="white")
        ax.set_title(f"{name} ({sum(counts):,} docs)", fontsize=8)
        ax.set_xlim(0, 1)
        ax.tick_params(labelsize=7, labelbottom=True)
        ax.yaxis.set_major_formatter(FuncFormatter(compact))
    return fig


def mixture(d: dict) -> Figure:
    names, stages = d["sources"], d["stages"]
    width = 0.8 / (len(stages) + 1)
    fig, ax = _frame(names, len(names) * 1.4)
    palette = [BLUE, ORANGE, "#5aa469", "#a05195"]
    for k, (stage, w) in enumerate(stages.items()):
        ax.barh([i + k * width for i in range(len(names))], w, height=width, color=palette[k % 4],
                label=f"weight: {stage}")
    ax.barh([i + len(stages) * width for i in range(len(names))], d["realised"], height=width, color=GREY,
            label="share of tokens seen")
    ax.set_yticks([i + width * len(stages) / 2 for i in range(len(names))], names)
    ax.invert_yaxis()
    ax.set_xlabel("share")
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=len(stages) + 1, frameon=False, fontsize=7)
    return fig
