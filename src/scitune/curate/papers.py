"""Batches of papers (LaTeX sources or PDFs) → one FigureRecord JSONL, one process per paper.

A paper that fails is reported in rejected.jsonl with its reason and the batch goes on; records
keep the order of the papers given, whatever the order in which processes finish. The papers are
read by a local process pool, or on Ray (`engine="ray"`: a local instance or a cluster, one task
per paper; OUT_DIR must then be a folder every node writes to, since readers write images there). summary.json
holds one quality line per paper: figures found, records, captions, records with citing sentences,
rejections counted by kind.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from pathlib import Path

from scitune.contracts import FigureRecord, Rejection

log = logging.getLogger(__name__)


def paper_sources(paths: list[Path], kind: str) -> list[Path]:
    """Each path as one paper, or, for a folder that is not itself a paper, each paper inside it."""
    found = []
    for path in paths:
        path = Path(path)
        if kind == "pdf":
            found += sorted(path.rglob("*.pdf")) if path.is_dir() else [path]
        elif path.is_dir() and not any(path.glob("*.tex")):
            found += sorted(p for p in path.iterdir() if p.is_dir() or p.name.endswith((".tar.gz", ".tgz", ".tar",
                                                                                          ".gz", ".tex")))
        else:
            found.append(path)
    return found


def _one(args) -> tuple[list[dict], list[dict], int, float]:
    reader, source, out_dir = args
    started = time.perf_counter()
    try:
        records, rejected, pages = reader(source, out_dir)
    except Exception as error:  # one broken paper never stops the batch
        records, rejected, pages = [], [Rejection(id=Path(source).stem, dataset="papers", where=Path(source).name,
                                                  kind="reader_crashed", reason=f"{type(error).__name__}: {error}")], 0
    return ([r.model_dump() for r in records], [r.model_dump() for r in rejected], pages,
            time.perf_counter() - started)


def _one_row(row: dict, reader: Callable, out_dir: str) -> dict:
    """`_one` as a Ray Data row: the paper's results as JSON text (rows need a fixed schema)."""
    found, refused, pages, seconds = _one((reader, row["source"], Path(out_dir)))
    return {"found": json.dumps(found), "refused": json.dumps(refused), "pages": pages, "seconds": seconds}


def _on_ray(sources: list[Path], out_dir: Path, reader: Callable, workers: int, address: str | None) -> Iterator:
    """`_one` for every paper as Ray tasks (one CPU each), results in the order of SOURCES."""
    import ray.data

    from scitune.curate.ray_engine import ray_instance

    with ray_instance(address, workers):
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        papers = ray.data.from_items([{"source": str(source)} for source in sources], override_num_blocks=len(sources))
        rows = papers.map(_one_row, fn_kwargs={"reader": reader, "out_dir": str(out_dir)}, num_cpus=1,
                          compute=ray.data.TaskPoolStrategy(size=workers or None))
        for row in rows.iter_rows():
            yield json.loads(row["found"]), json.loads(row["refused"]), row["pages"], row["seconds"]


def curate_papers(sources: list[Path], out_dir: Path, reader: Callable, workers: int = 0,
                  on_paper: Callable[[int], None] | None = None, engine: str = "local",
                  ray_address: str | None = None) -> dict:
    """Run READER(source, out_dir) → (records, rejections, pages) on every paper, in parallel: a
    process pool of WORKERS (0: one per core), or Ray tasks (ENGINE 'ray'; RAY_ADDRESS: a cluster)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(reader, source, out_dir) for source in sources]
    started = time.perf_counter()
    records, rejected, pages = 0, 0, 0
    reasons: dict[str, int] = {}
    quality: list[dict] = []
    parallel = engine == "local" and workers != 1 and len(jobs) > 1
    with (out_dir / "figures.jsonl").open("w", encoding="utf-8") as figures, \
            (out_dir / "rejected.jsonl").open("w", encoding="utf-8") as rejects, \
            (ProcessPoolExecutor(max_workers=workers or None) if parallel else nullcontext()) as pool:
        results = (_on_ray(sources, out_dir, reader, workers, ray_address) if engine == "ray"
                   else (pool.map if parallel else map)(_one, jobs))
        for source, (found, refused, page_count, _) in zip(sources, results):
            by_kind: dict[str, int] = {}
            for rejection in refused:
                by_kind[rejection["kind"]] = by_kind.get(rejection["kind"], 0) + 1
            line = {"paper": Path(source).name, "figures": len({r["source"]["figure_id"].rstrip("abcdefgh")
                                                                for r in found}),
                    "records": len(found), "captions": sum(bool(r["caption"]) for r in found),
                    "with_mentions": sum(bool(r["mentions"]) for r in found), "rejected": by_kind}
            quality.append(line)
            log.info("%s: %d figures (%d records), %d with citing sentences, rejected %s", line["paper"],
                     line["figures"], line["records"], line["with_mentions"], by_kind or "none")
            for record in found:
                figures.write(json.dumps(FigureRecord.model_validate(record).model_dump(), ensure_ascii=False) + "\n")
            for rejection in refused:
                rejects.write(json.dumps(rejection, ensure_ascii=False) + "\n")
                reasons[rejection["kind"]] = reasons.get(rejection["kind"], 0) + 1
            records += len(found)
            rejected += len(refused)
            pages += page_count
            if on_paper:
                on_paper(1)
    seconds = time.perf_counter() - started
    summary = {"papers": len(sources), "figures": records, "rejected": rejected, "pages": pages,
               "seconds": round(seconds, 2), "pages_per_second": round(pages / seconds, 2) if seconds else None,
               "rejected_by_kind": dict(sorted(reasons.items(), key=lambda kv: -kv[1])), "per_paper": quality}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
