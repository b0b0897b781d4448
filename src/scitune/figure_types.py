"""The figure-type labels SciTune knows, and how each corpus spells them.

SciCap writes 'Graph Plot', 'Scatterplot', 'Node Diagram'…; VisText names chart marks ('bar',
'line', 'area'). Every spelling maps to one lower-case label, so a classifier trained on several
corpora sees one vocabulary. A type outside the list is not guessed: the record is quarantined
(or its type dropped, when the caller asks for that), because a wrong T component is a wrong target.
"""

from __future__ import annotations

import re

KNOWN_FIGURE_TYPES: tuple[str, ...] = (
    "graph plot", "scatter plot", "bar chart", "line chart", "area chart", "pie chart", "table", "equation",
    "node diagram", "flowchart", "photograph", "map", "heat map", "histogram", "box plot", "algorithm",
)

_SPELLINGS = {
    "graphplot": "graph plot", "graph": "graph plot", "plot": "graph plot", "lineplot": "graph plot",
    "scatterplot": "scatter plot", "scatter": "scatter plot",
    "barchart": "bar chart", "bar": "bar chart", "bargraph": "bar chart", "barplot": "bar chart",
    "line": "line chart", "linechart": "line chart", "area": "area chart", "areachart": "area chart",
    "pie": "pie chart", "piechart": "pie chart", "tables": "table",
    "equations": "equation", "nodediagram": "node diagram", "diagram": "node diagram",
    "flowchart": "flowchart", "flowcharts": "flowchart", "photo": "photograph", "photograph": "photograph",
    "natural image": "photograph", "naturalimage": "photograph", "heatmap": "heat map", "boxplot": "box plot",
    "pseudocode": "algorithm",
}
_SPELLINGS.update({label.replace(" ", ""): label for label in KNOWN_FIGURE_TYPES})


def normalize_figure_type(raw: str | None, known: tuple[str, ...] = KNOWN_FIGURE_TYPES) -> str | None:
    """'Graph Plot' → 'graph plot'; None or '' → None; an unknown type raises ValueError."""
    if raw is None or not str(raw).strip():
        return None
    key = re.sub(r"[\s_\-]+", "", str(raw).strip().lower())
    label = _SPELLINGS.get(key, str(raw).strip().lower())
    if label not in known:
        raise ValueError(f"figure type {raw!r} is not one of the known types ({', '.join(known)})")
    return label
