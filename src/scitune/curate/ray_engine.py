"""`scitune curate figures --engine ray`: the in-process curation's steps as a Ray Data pipeline.

The same reader, checks, dedupe, OCR, targets and rejections as `FigureCuration` (the step objects
of `corpus.py` run inside Ray workers), so the files are the same, line for line:

    read (one task, streaming blocks) → checks (CPU tasks) → dedupe (one actor, corpus order)
        → OCR (an actor pool: each actor loads its engine once) → targets (an actor pool: one
        tokenizer each) → the driver, which writes the lines it receives

Every row carries the position of its record in the corpus. The dedupe actor takes the rows in
that order whatever order they arrive in (it holds back rows until the ones before them came), so
who owns an id, an image or a caption never depends on the number of workers; the split is a hash
of the paper id. The driver holds no records: it appends lines to files and adds up counters.

Rows are (pos, file, text, extra): `file` names the output file a finished line belongs to
(`rejected.jsonl`, `train.jsonl`, `records_test.jsonl`, …), or what a record still needs
(`@input`: checks; `@checked`: dedupe; `@kept`: OCR and targets; `@ocr`: targets), or `#stats` for
the counters of one batch.
"""

from __future__ import annotations

import gc
import json
import logging
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from scitune.config import FigureCurationConfig
from scitune.contracts import FigureRecord, Rejection
from scitune.curate.corpus import (
    OUTPUT_FILES,
    Checked,
    OcrFill,
    RecordChecks,
    SeenIndex,
    Stats,
    TargetBuilder,
    duplicate_rejection,
    finish,
    settle_collector,
)

log = logging.getLogger(__name__)

BLOCK_ROWS = 2000
"""Records per block out of the reader: small enough to keep every worker busy, large enough that
Ray's per-block overhead stays small next to the work."""
BLOCK_BYTES = 1 << 20
"""Ray Data's block size limit: its default (128 MiB) would glue the reader's blocks into one, and a
single block is worked on by a single task."""
OCR_BLOCK_ROWS, OCR_BLOCK_BYTES = 8, 8 << 10
"""The sizes when OCR runs: a block is one OCR actor's work, so blocks of ~10 records (seconds of
OCR each, against milliseconds of Ray overhead) let every actor take a share of a small corpus."""


def _settle() -> None:
    """In a fresh worker, once its imports (transformers, an OCR engine) are done: the collector
    set as the CLI sets it for the in-process engine (corpus.settle_collector)."""
    gc.collect()
    settle_collector()


STATS = "#stats"


def _schema():
    import pyarrow as pa

    return pa.schema([("pos", pa.int64()), ("file", pa.string()), ("text", pa.string()), ("extra", pa.string())])


def _table(rows: list[tuple[int, str, str, str]]):
    import pyarrow as pa

    columns = list(zip(*rows)) if rows else [[], [], [], []]
    return pa.Table.from_arrays([pa.array(list(c), type=t.type) for c, t in zip(columns, _schema())],
                                schema=_schema())


def _rows(batch) -> list[tuple[int, str, str, str]]:
    return list(zip(*(batch.column(name).to_pylist() for name in ("pos", "file", "text", "extra"))))


def _stats_row(stats: Stats, cache: tuple[int, int] = (0, 0)) -> tuple[int, str, str, str]:
    return -1, STATS, json.dumps({"counts": stats.counts(), "cache": list(cache)}), ""


def _read_blocks(reader: Callable[[], Iterator[FigureRecord | Rejection]], block_rows: int):
    """The read task: the reader's items as blocks of rows, numbered in corpus order."""
    rows = []
    for pos, item in enumerate(reader()):
        if isinstance(item, Rejection):
            rows.append((pos, "rejected.jsonl", item.model_dump_json(), item.kind))
        else:
            rows.append((pos, "@input", item.model_dump_json(), ""))
        if len(rows) == block_rows:
            yield _table(rows)
            rows = []
    if rows:
        yield _table(rows)


def _check_batch(batch, cfg: FigureCurationConfig, image_root: str):
    """The checks a record passes alone (CPU tasks)."""
    checks = RecordChecks(cfg, Path(image_root))
    out = []
    for pos, file, text, extra in _rows(batch):
        if file != "@input":
            out.append((pos, file, text, extra))
            continue
        result = checks(FigureRecord.model_validate_json(text))
        if isinstance(result, Rejection):
            out.append((pos, "rejected.jsonl", result.model_dump_json(), result.kind))
        else:
            out.append((pos, "@checked", result.record.model_dump_json(),
                        json.dumps({"id": result.record.id, "path": result.path, "keys": result.keys})))
    return _table(out)


class Dedupe:
    """The one step that must see the records in corpus order: the first record owns its id, image
    and caption on its paper. Rows that arrive early wait until every row before them came."""

    def __init__(self) -> None:
        self.folder = tempfile.TemporaryDirectory(prefix="scitune-dedupe-")
        self.seen = SeenIndex(Path(self.folder.name) / "seen.sqlite")
        self.next = 0
        self.waiting: dict[int, tuple[int, str, str, str]] = {}
        _settle()

    def __call__(self, batch):
        for row in _rows(batch):
            self.waiting[row[0]] = row
        ready = []
        while self.next in self.waiting:
            ready.append(self.waiting.pop(self.next))
            self.next += 1
        checked = {pos: json.loads(extra) for pos, file, _, extra in ready if file == "@checked"}
        claims = [(found["keys"], found["id"]) for found in checked.values()]
        verdicts = iter(self.seen.claim_many(claims))
        out = []
        for pos, file, text, extra in ready:
            if file != "@checked":
                out.append((pos, file, text, extra))
                continue
            taken = next(verdicts)
            if taken is None:
                out.append((pos, "@kept", text, checked[pos]["path"]))
            else:
                rejection = duplicate_rejection(FigureRecord.model_validate_json(text), *taken)
                out.append((pos, "rejected.jsonl", rejection.model_dump_json(), rejection.kind))
        stats = Stats()
        stats.records_in = len(ready)
        return _table([*out, _stats_row(stats)])


class Ocr:
    """OCR for the records that carry none; the engine is loaded once per actor."""

    def __init__(self, engine: str, cache: str) -> None:
        self.fill = OcrFill(engine, Path(cache), Stats())
        _settle()

    def __call__(self, batch):
        self.fill.stats = stats = Stats()  # this batch's counts
        hits, misses = self.fill.cache.hits, self.fill.cache.misses
        out = []
        for pos, file, text, extra in _rows(batch):
            if file == "@kept":
                record = FigureRecord.model_validate_json(text)
                filled = self.fill(Checked(record, extra, []))
                # "@ocr" marks a record whose OCR was settled here, so the targets step does not count it again.
                out.append((pos, "@ocr", filled.model_dump_json() if filled is not record else text, extra))
            else:
                out.append((pos, file, text, extra))
        cache = (self.fill.cache.hits - hits, self.fill.cache.misses - misses)
        return _table([*out, _stats_row(stats, cache)])


class Targets:
    """Instructions and the output lines; one tokenizer per actor."""

    def __init__(self, cfg: FigureCurationConfig, tokenizer, seed: int) -> None:
        self.builder = TargetBuilder(cfg, tokenizer, seed, Stats())
        self.carried = OcrFill("none", Path("."), Stats())  # counts carried OCR when no engine ran
        _settle()

    def __call__(self, batch):
        self.builder.stats = self.carried.stats = stats = Stats()  # this batch's counts
        rows = _rows(batch)
        kept = [(pos, file, text, extra) for pos, file, text, extra in rows if file in ("@kept", "@ocr")]
        out = [row for row in rows if row[1] not in ("@kept", "@ocr")]
        records = []
        for _, file, text, extra in kept:
            record = FigureRecord.model_validate_json(text)
            records.append(self.carried(Checked(record, extra, [])) if file == "@kept" else record)
        out += [(-1, name, line, kind) for name, line, kind in self.builder.lines(records)]
        return _table([*out, _stats_row(stats)])


@contextmanager
def ray_instance(address: str | None, workers: int) -> Iterator[None]:
    """Ray as the caller asked: the cluster at ADDRESS, or a local instance of WORKERS CPUs (0: all
    cores); one already started is used as it is and left running, one started here is shut down."""
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
        if address:
            ray.init(address=address, **quiet)
        else:
            ray.init(num_cpus=workers or None, include_dashboard=False, **quiet)
    try:
        yield
    finally:
        if started_here:
            ray.shutdown()


def curate_on_ray(cfg: FigureCurationConfig, out_dir: Path, image_root: Path, tokenizer, seed: int,
                  reader: Callable[[], Iterator[FigureRecord | Rejection]], address: str | None = None,
                  workers: int = 0, ocr_cache: Path | None = None,
                  on_item: Callable[[int], None] | None = None) -> dict:
    """Curate the records READER() yields on Ray: a local instance of WORKERS CPUs (0: all cores)
    when ADDRESS is None, else the cluster at ADDRESS ('auto' for the one this machine is part of).
    READER must be picklable (e.g. functools.partial(read_figures, fmt, path)): it runs in a worker.
    Returns the quality report, like `FigureCuration.run`."""
    import ray
    import ray.data
    from ray.data import ActorPoolStrategy, TaskPoolStrategy
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    # Ray's own progress lines and tuning hints (a one-block corpus "could use more tasks") are not
    # the user's business here: the CLI shows its own progress, failures still raise.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"ray\.data\..*")
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    with ray_instance(address, workers):
        clock = time.perf_counter()
        size = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # deterministic output order, and dedupe waits less
        context.enable_progress_bars = False
        context.target_max_block_size = BLOCK_BYTES if cfg.ocr == "none" else OCR_BLOCK_BYTES

        class Corpus(Datasource):
            def estimate_inmemory_data_size(self):
                return None

            def get_read_tasks(self, parallelism, **_):
                metadata = BlockMetadata(num_rows=None, size_bytes=None, input_files=None, exec_stats=None)
                return [ReadTask(lambda: _read_blocks(reader, BLOCK_ROWS if cfg.ocr == "none" else OCR_BLOCK_ROWS), metadata)]

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        # Only the OCR step asks for whole CPUs: the others are light next to it (and a pool that
        # held a CPU each could leave none for the reader on a one-CPU instance).
        light = {"num_cpus": 0}
        data = ray.data.read_datasource(Corpus(), override_num_blocks=1, **light)
        data = data.map_batches(_check_batch, fn_kwargs={"cfg": cfg, "image_root": str(image_root)},
                                batch_format="pyarrow", batch_size=None, compute=TaskPoolStrategy(size=size), **light)
        data = data.map_batches(Dedupe, batch_format="pyarrow", batch_size=None, compute=ActorPoolStrategy(size=1),
                                **light)
        if cfg.ocr != "none":
            data = data.map_batches(Ocr, fn_constructor_kwargs={"engine": cfg.ocr,
                                                                "cache": str(ocr_cache or out_dir / "ocr_cache")},
                                    batch_format="pyarrow", batch_size=None, compute=ActorPoolStrategy(size=size),
                                    num_cpus=1)
        data = data.map_batches(Targets, fn_constructor_kwargs={"cfg": cfg, "tokenizer": tokenizer, "seed": seed},
                                batch_format="pyarrow", batch_size=None, compute=ActorPoolStrategy(size=size),
                                **light)
        stats, cache = Stats(), [0, 0]
        handles = {name: (out_dir / (name + ".tmp")).open("w", encoding="utf-8") for name in OUTPUT_FILES}
        try:
            for batch in data.iter_batches(batch_format="pyarrow", batch_size=None):
                for _, file, text, extra in _rows(batch):
                    if file == STATS:
                        part = json.loads(text)
                        stats.add(part["counts"])
                        cache = [a + b for a, b in zip(cache, part["cache"])]
                        if on_item and part["counts"]["records_in"]:
                            on_item(part["counts"]["records_in"])
                        continue
                    if extra and file == "rejected.jsonl":
                        stats.rejected[extra] += 1
                    handles[file].write(text + "\n")
        finally:
            for handle in handles.values():
                handle.close()
        log.debug("Ray Data execution (%.1f s after Ray was up):\n%s", time.perf_counter() - clock, data.stats())
        name = getattr(tokenizer, "name_or_path", "")
        return finish(out_dir, stats, cfg, seed, Path(image_root), None, name,
                      ocr_counts=tuple(cache) if cfg.ocr != "none" else None)
