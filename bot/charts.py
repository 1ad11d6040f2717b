"""PNG charts of the board figures (matplotlib, Agg backend: no display needed).

`render_charts(figures)` returns {filename: png bytes}; `write_charts(figures, directory)`
writes them. Every chart is drawn from the figures dict alone (bot/protocol/figures.py)."""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bot.protocol.figures import PLACEMENT_TYPES, label  # noqa: E402

COLOURS = ["#1b6ca8", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"]
RI_COLOURS = {"in_timescale": "#59a14f", "out_of_timescale": "#edc948", "declined": "#f28e2b", "voided": "#9c755f",
              "incomplete": "#e15759", "pending": "#bab0ac"}


def _figure(title: str, fig_dict: dict, size=(8, 4.5)):
    fig, ax = plt.subplots(figsize=size, dpi=110)
    period = fig_dict["period"]
    ax.set_title(f"{title}\n{period['from']} to {period['to']}", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _bar_labels(ax, bars) -> None:
    for bar in bars:
        value = bar.get_height()
        if value:
            ax.annotate(f"{int(value)}", (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom",
                        fontsize=8, xytext=(0, 2), textcoords="offset points")


def monthly_by_placement(f: dict) -> bytes:
    """Children missing each month, stacked by placement type, with the episode count on top."""
    fig, ax = _figure("Children missing each month, by placement type", f, size=(9, 4.8))
    months = [m["month"] for m in f["by_month"]]
    bottom = [0] * len(months)
    used = [t for t in PLACEMENT_TYPES if any(m["children_by_placement_type"][t] for m in f["by_month"])]
    for i, t in enumerate(used):
        values = [m["children_by_placement_type"][t] for m in f["by_month"]]
        ax.bar(months, values, bottom=bottom, label=label(t), color=COLOURS[i % len(COLOURS)])
        bottom = [b + v for b, v in zip(bottom, values)]
    for x, (m, b) in enumerate(zip(f["by_month"], bottom)):
        ax.annotate(f"{m['episodes']} ep.", (x, b), ha="center", va="bottom", fontsize=7, xytext=(0, 2),
                    textcoords="offset points")
    ax.set_ylabel("children")
    ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    if used:
        ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
    ax.margins(y=0.15)
    return _png(fig)


def _simple_bars(title: str, f: dict, labels: list[str], values: list[int], colours=None, ylabel="episodes") -> bytes:
    fig, ax = _figure(title, f)
    bars = ax.bar(labels, values, color=colours or COLOURS[0])
    _bar_labels(ax, bars)
    ax.set_ylabel(ylabel)
    ax.margins(y=0.15)
    ax.tick_params(axis="x", labelsize=8)
    return _png(fig)


def by_age_band(f: dict) -> bytes:
    keys = list(f["by_age_band"])
    return _simple_bars("Episodes by age at the start", f, [label(k) for k in keys],
                        [f["by_age_band"][k]["episodes"] for k in keys])


def durations(f: dict) -> bytes:
    keys = list(f["durations"])
    return _simple_bars("How long episodes lasted", f, [label(k).replace(" to ", "\nto ") for k in keys],
                        [f["durations"][k] for k in keys])


def return_interviews(f: dict) -> bytes:
    keys = list(f["return_interviews"])
    return _simple_bars("Return interviews (episodes that ended)", f, [label(k).replace(" of ", "\nof ") for k in keys],
                        [f["return_interviews"][k] for k in keys], colours=[RI_COLOURS[k] for k in keys])


def top_children(f: dict) -> bytes:
    fig, ax = _figure("Children with the most episodes", f)
    top = list(reversed(f["top_children"]))
    bars = ax.barh([c["child_ref"] for c in top], [c["episodes"] for c in top], color=COLOURS[0])
    for bar in bars:
        ax.annotate(f"{int(bar.get_width())}", (bar.get_width(), bar.get_y() + bar.get_height() / 2), va="center",
                    fontsize=8, xytext=(3, 0), textcoords="offset points")
    ax.set_xlabel("episodes")
    ax.tick_params(axis="y", labelsize=8)
    ax.margins(x=0.1)
    return _png(fig)


CHARTS = {
    "episodes_by_month.png": monthly_by_placement,
    "episodes_by_age_band.png": by_age_band,
    "durations.png": durations,
    "return_interviews.png": return_interviews,
    "top_children.png": top_children,
}


def render_charts(figures: dict) -> dict[str, bytes]:
    return {name: draw(figures) for name, draw in CHARTS.items()}


def write_charts(figures: dict, directory: str | Path) -> list[Path]:
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, png in render_charts(figures).items():
        path = out / name
        path.write_bytes(png)
        paths.append(path)
    return paths
