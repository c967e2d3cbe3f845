"""Point labels that never overlap: each label is placed at the first of a ring of offsets around its
point where its box meets no other label, no marked point and stays inside the axes; a label moved
away from its point gets a thin leader line.

Used by the Pareto figures, where a search's trials crowd into a narrow band of MACs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from matplotlib.axes import Axes
from matplotlib.transforms import Bbox

__all__ = ["PointLabel", "place_labels"]

#: offsets tried around a point, in points (1/72 inch): right-up first, then the other corners, then
#: the same directions farther out
_DIRECTIONS = ((1, 1), (1, -1), (-1, 1), (-1, -1), (0, 1), (0, -1), (1, 0), (-1, 0))
_DISTANCES = (5, 14, 26, 40, 56)
_OFFSETS = tuple((dx * distance, dy * distance) for distance in _DISTANCES for dx, dy in _DIRECTIONS)


@dataclass
class PointLabel:
    """A label to place next to the data point ``(x, y)``.

    Attributes:
        text: the label.
        x: the point's x, in data coordinates.
        y: the point's y, in data coordinates.
        style: extra keyword arguments of :meth:`~matplotlib.axes.Axes.annotate` (e.g. ``fontweight``).
    """

    text: str
    x: float
    y: float
    style: dict[str, Any] = field(default_factory=dict)


def place_labels(
    ax: Axes, labels: list[PointLabel], markers: list[tuple[float, float, float]], fontsize: float = 7
) -> None:
    """Annotate ``ax`` with ``labels`` (in order: earlier ones get the better places) so that no two label
    boxes overlap each other, the texts already on ``ax`` or the squares around ``markers`` (every marker
    drawn, as ``(x, y, half side)``: its data coordinates and the clearance it needs, in points).

    Labels of points outside the axes' limits are dropped (a clipped point has no place to be named). The
    axes' limits must be final: placement measures in display coordinates. When no offset is free, the
    label goes to the one that overlaps the fewest boxes.
    """
    figure = ax.figure
    renderer = figure.canvas.get_renderer()
    to_pixels = ax.transData.transform
    scale = figure.dpi / 72.0
    inside = ax.get_window_extent(renderer)
    taken = []
    for x, y, half in markers:
        (px, py), side = to_pixels((x, y)), 2 * half * scale
        taken.append(Bbox.from_bounds(px - half * scale, py - half * scale, side, side))
    taken += [text.get_window_extent(renderer) for text in ax.texts]  # notes already on the axes
    (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
    for label in labels:
        if not (x0 <= label.x <= x1 and y0 <= label.y <= y1):
            continue
        probe = ax.annotate(label.text, (label.x, label.y), fontsize=fontsize, textcoords="offset points",
                            xytext=(0, 0), **label.style)
        best: tuple[int, tuple[float, float], Bbox] | None = None
        for offset in _OFFSETS:
            box = _label_box(probe, renderer, offset, scale)
            clashes = sum(box.overlaps(other) for other in taken) + (0 if _within(box, inside) else len(taken) + 1)
            if best is None or clashes < best[0]:
                best = (clashes, offset, box)
            if clashes == 0:
                break
        probe.remove()
        assert best is not None
        _, offset, box = best
        leader = {"arrowprops": {"arrowstyle": "-", "color": "#777777", "linewidth": 0.5, "shrinkA": 0, "shrinkB": 3}}
        ax.annotate(label.text, (label.x, label.y), fontsize=fontsize, textcoords="offset points", xytext=offset,
                    zorder=12, **_alignment(offset), **(leader if max(map(abs, offset)) > _DISTANCES[0] else {}),
                    **label.style)
        taken.append(box)


def _alignment(offset: tuple[float, float]) -> dict[str, str]:
    """Text alignment that makes a label's box grow away from its point (to the left of it for a negative
    x offset, below it for a negative y offset)."""
    return {
        "horizontalalignment": "right" if offset[0] < 0 else "center" if offset[0] == 0 else "left",
        "verticalalignment": "top" if offset[1] < 0 else "center" if offset[1] == 0 else "bottom",
    }


def _label_box(text: Any, renderer: Any, offset: tuple[float, float], scale: float) -> Bbox:
    """The display box of ``text`` placed at ``offset`` points from its point, anchored so that the box
    grows away from the point (left of it for negative x offsets, below it for negative y offsets)."""
    text.set_position(offset)
    text.update(_alignment(offset))
    return text.get_window_extent(renderer).padded(1.0 * scale)


def _within(box: Bbox, frame: Bbox) -> bool:
    return frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
