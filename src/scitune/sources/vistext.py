"""VisText reader: `data_{split}.json` (a list of chart records) and its image folder.

Each record has `caption_id`, `img_id`, `caption_L1` and `caption_L2L3`. Only the L2/L3 caption
is used: it is written by people (trends and statistics), while L1 captions are generated from a
template, and SciTune's targets come only from human-written text. The chart type is taken from
`chart_type`, or from the first entry of `L1_properties` when present (bar, line or area); else it
is unknown. Images are `{img_id}.png` in the image folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ijson

from scitune.contracts import FigureRecord, Rejection
from scitune.sources.streams import Utf8Repair, has_bad_text, texts

LICENSE = "GPL-3.0 (VisText)"


def read_vistext(path: Path, dataset: str = "vistext") -> Iterator[FigureRecord | Rejection]:
    path = Path(path)
    with open(path, "rb") as handle:
        for number, item in enumerate(ijson.items(Utf8Repair(handle), "item", use_float=True)):
            where = f"{path.name}[{number}]"
            image_id = str(item.get("img_id") or "")
            record_id = str(item.get("caption_id") or image_id or number)
            if not image_id:
                yield Rejection(id=record_id, dataset=dataset, where=where, kind="no_img_id", reason="record has no img_id")
                continue
            caption = item.get("caption_L2L3")
            if has_bad_text(caption):
                yield Rejection(id=record_id, dataset=dataset, where=where, kind="invalid_utf8", reason="text is not valid UTF-8")
                continue
            properties = item.get("L1_properties")
            chart = item.get("chart_type") or (properties[0] if isinstance(properties, list) and properties else None)
            yield FigureRecord(
                id=f"{dataset}-{record_id}", image=f"{image_id}.png", figure_type=chart,
                caption=" ".join(texts(caption)),
                # Every chart is its own 'paper': splitting by it keeps a chart's captions on one side.
                source={"dataset": dataset, "paper_id": image_id, "figure_id": image_id, "license": LICENSE},
            )
