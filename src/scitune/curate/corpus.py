"""`scitune curate figures`: a stream of FigureRecords from any reader → checked, deduplicated,
OCR-completed, length-limited instructions split by paper, with every rejection written down.

Memory does not grow with the corpus: records flow through in chunks, the state that must see
every record (ids, image hashes, captions per paper) moves to an on-disk index past a bound, and the
statistics are counters and a fixed histogram. Counts always add up: in = kept + rejected.

A record goes through four steps, each its own object so that `ray_engine` runs the same code
spread over a cluster: `RecordChecks` (alone: type, caption, image), `SeenIndex` (in corpus order:
the first record owns an id, an image and a caption on a paper), `OcrFill` (the text inside the
figure, for records that carry none) and `TargetBuilder` (instructions, targets cut to the token
limit, split by paper, the output lines). Only the second must see the records in order.

Files written to OUT_DIR: `{split}.jsonl` (instructions), `records_{split}.jsonl` (the kept
records, OCR filled in: the input of `scitune evaluate figures`), `rejected.jsonl` (id, reason,
where), `quality.json`, `quality.md`, `quality.png`, and `manifest.json` (image root, settings, seed,
labels, per-file counts and hashes: what training and evaluation read).
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache, partial
from itertools import islice
from pathlib import Path
from typing import NamedTuple

import orjson
from pydantic_core import to_json

from scitune.config import FigureCurationConfig
from scitune.contracts import IMAGE_PLACEHOLDER, FigureRecord, Instruction, Rejection
from scitune.curate.figures import instruction_rows
from scitune.curate.lengths import TargetLimiter, single_spaced
from scitune.curate.manifest import write_manifest
from scitune.curate.seen import SeenIndex
from scitune.figure_types import normalize_figure_type
from scitune.sources.images import ImageError, check_image, file_digest, inside_root, resolve_image
from scitune.sources.ocr import OcrCache, make_engine
from scitune.sources.splits import SPLITS, split_of

LENGTH_BINS = (16, 32, 64, 128, 256, 384, 512, 1024, 2048)

YOUNG_COLLECTION = 100_000
"""Allocations between two collections of the young generation during a curation run (700 by default)."""


def settle_collector() -> None:
    """The garbage collector set for a long curation run in this process: the objects alive now
    (the millions that importing transformers creates) frozen out of its scans (~1.6x faster), and
    the young generation collected every YOUNG_COLLECTION allocations: curation makes few reference
    cycles, and scanning its short-lived records every 700 cost another ~10% (measured with
    benchmarks/curate_figures_scale.py; memory unchanged)."""
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION, 50, 100)


@contextmanager
def settled_collector() -> Iterator[None]:
    """settle_collector() for the length of a with-block, the collector as it was afterwards."""
    thresholds = gc.get_threshold()
    settle_collector()
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _sampled(row: dict) -> bool:
    """1 in 8 of the free-text targets (a type label's length says nothing), fixed by the instruction id."""
    return row["source"]["task"] != "figure_type" and zlib.crc32(row["id"].encode("utf-8")) % 8 == 0


def duplicate_rejection(record: FigureRecord, key: str, owner: str) -> Rejection:
    """Why RECORD is refused when KEY (one of its dedupe keys) belongs to the earlier record OWNER."""
    kind, reason = ("duplicate_id", f"duplicate id {record.id}") if key.startswith("id:") else (
        ("duplicate_image", f"same image as {owner}") if key.startswith("image:") else
        ("duplicate_caption", f"same caption as {owner} on paper {record.source.paper_id}"))
    return Rejection(id=record.id, dataset=record.source.dataset, kind=kind, reason=reason)


class Stats:
    """Counters of one curation; bounded in size whatever the corpus. Counters of parts of a corpus
    (curated apart, e.g. by Ray workers) add up to the counters of the whole."""

    COUNTERS = ("kept", "instructions", "rejected", "types", "tasks", "lengths", "ocr")

    def __init__(self) -> None:
        self.records_in = 0
        self.kept = Counter()  # split → records
        self.instructions = Counter()  # split → instructions
        self.rejected = Counter()  # rejection kind → count
        self.types = Counter()
        self.tasks = Counter()
        self.lengths = Counter()  # bin upper edge → targets
        self.truncated = 0
        self.ocr = Counter()  # carried:WHERE / engine:NAME / failed / empty

    def add_length(self, tokens: int) -> None:
        self.lengths[next((edge for edge in LENGTH_BINS if tokens <= edge), LENGTH_BINS[-1] * 2)] += 1

    def counts(self) -> dict:
        """Every counter as plain JSON (what a worker sends back)."""
        return {"records_in": self.records_in, "truncated": self.truncated,
                **{name: {str(k): v for k, v in getattr(self, name).items()} for name in self.COUNTERS}}

    def add(self, counts: dict) -> None:
        """Add the COUNTS of another part of the corpus (from `counts`)."""
        self.records_in += counts["records_in"]
        self.truncated += counts["truncated"]
        for name in self.COUNTERS:
            getattr(self, name).update({int(k) if name == "lengths" else k: v for k, v in counts[name].items()})

    def to_json(self) -> dict:
        """The report's counts, in an order that depends on the counts only (not on which record
        came first, nor on how the corpus was cut into parts)."""
        rejected = sum(self.rejected.values())

        def by_name(counter: Counter) -> dict:
            return dict(sorted(counter.items()))

        def most_first(counter: Counter) -> dict:
            return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))

        return {
            "records_in": self.records_in, "records_kept": sum(self.kept.values()), "records_rejected": rejected,
            "adds_up": self.records_in == sum(self.kept.values()) + rejected,
            "kept_per_split": by_name(self.kept), "instructions_per_split": by_name(self.instructions),
            "rejected_by_kind": most_first(self.rejected), "figure_types": most_first(self.types),
            "instructions_per_task": by_name(self.tasks), "target_tokens_histogram_sample_1_in_8": {
                f"<={edge}": self.lengths[edge] for edge in sorted(self.lengths)},
            "targets_truncated": self.truncated, "ocr": by_name(self.ocr),
        }


class Checked(NamedTuple):
    """A record that passed the checks it can pass alone, with what dedupe and OCR need (a tuple:
    made for every record, and a frozen dataclass cost ten times as much to make)."""

    record: FigureRecord
    path: str  # the image file (under the image root)
    keys: list[str]  # what the record must own: its id, and with dedupe its image and its caption on its paper


class RecordChecks:
    """What a record must pass alone: a known (normalised) figure type, a caption, no image
    placeholder in its text, an image inside the root that opens (as `image_check` says)."""

    def __init__(self, cfg: FigureCurationConfig, image_root: Path):
        self.cfg = cfg
        self.image_root = Path(image_root)
        self._root = str(self.image_root)  # what `inside_root` takes it as, made once, not per record
        self._under = len(os.path.realpath(self._root).rstrip(os.sep)) + 1  # where a path under the root starts
        # A corpus spells its types in a handful of ways: each is worked out once (unknown ones
        # raise every time), keyed by the spelling alone (not also by the tuple of known types).
        self.normalized_type = lru_cache(maxsize=1024)(partial(normalize_figure_type, known=tuple(cfg.figure_types)))

    def __call__(self, record: FigureRecord) -> Checked | Rejection:
        try:
            figure_type = self.normalized_type(record.figure_type)
        except ValueError as error:
            if self.cfg.unknown_types == "reject":
                return _rejection(record, "unknown_figure_type", str(error))
            figure_type = None
        if not record.caption.strip():
            return _rejection(record, "empty_caption", "empty caption")
        # One search of the texts joined by a newline, which no placeholder spans.
        if IMAGE_PLACEHOLDER in "\n".join((record.caption, *record.ocr, *record.mentions, *record.paragraphs)):
            return _rejection(record, "image_placeholder_in_text", f"its text contains the image placeholder "
                                                                   f"{IMAGE_PLACEHOLDER}, which would add an image slot")
        try:
            if self.cfg.image_check == "none":  # no file is opened: a lexical check, no disk access
                path = inside_root(self._root, record.image, record.id)
            else:
                path = resolve_image(self.image_root, record.image, record.id)
                check_image(path, record.id, self.cfg.image_check, self.cfg.max_pixels)
        except ImageError as error:
            return _rejection(record, error.kind, str(error))
        keys = [f"id:{record.id}"]
        if self.cfg.dedupe:
            # The image by its bytes, or (no file opened) by its path under the root, without the
            # root that every key would repeat: short keys keep the on-disk index small and fast.
            keys.append(f"image:{file_digest(path) if self.cfg.image_check != 'none' else path[self._under:]}")
            # The caption by its 128-bit digest of its words, lower-cased; two different captions of
            # one paper collide with odds of about n²/2^129.
            caption = record.caption.lower()
            if not single_spaced(caption):  # most are: splitting and joining them again changes nothing
                caption = " ".join(caption.split())
            keys.append(f"caption:{record.source.paper_id}\x00"
                        f"{hashlib.blake2b(caption.encode('utf-8'), digest_size=16).hexdigest()}")
        # Checked once, at the reader: the copy with the normalised type needs no second validation.
        if figure_type != record.figure_type:
            record = _with_type(record, figure_type)
        return Checked(record, str(path), keys)


def _with_type(record: FigureRecord, figure_type: str | None) -> FigureRecord:
    """`record.model_copy(update={"figure_type": figure_type})` for a fraction of its cost (it copies
    every attribute generically, for every record): the four attributes a pydantic model is made
    of, as `model_construct` sets them. The set of fields set is shared when it already names the
    type: a frozen model never changes it."""
    copy = _new(FigureRecord)
    _set(copy, "__dict__", {**record.__dict__, "figure_type": figure_type})
    fields = record.__pydantic_fields_set__
    _set(copy, "__pydantic_fields_set__", fields if "figure_type" in fields else fields | {"figure_type"})
    _set(copy, "__pydantic_extra__", None)
    _set(copy, "__pydantic_private__", None)
    return copy


_new, _set = object.__new__, object.__setattr__


def _rejection(record: FigureRecord, kind: str, reason: str) -> Rejection:
    return Rejection(id=record.id, dataset=record.source.dataset, kind=kind, reason=reason)


class OcrFill:
    """The text inside the figure for a record that carries none, read by the configured engine
    through the OCR cache; an engine failure costs the O component, not the record."""

    def __init__(self, engine_name: str, cache: Path, stats: Stats):
        engine = make_engine(engine_name)
        self.cache = OcrCache(engine, cache) if engine else None
        self.stats = stats

    def __call__(self, checked: Checked) -> FigureRecord:
        record = checked.record
        if record.ocr:  # counted by where it came from: the corpus, a PDF's text layer, an engine
            self.stats.ocr[f"carried:{record.ocr_from or 'corpus'}"] += 1
            return record
        if self.cache is None:
            return record
        try:
            # Only the words the engine is sure of reach the target; the caption and the citing
            # sentences correct its near-misses (words of the figure are often named there).
            ocr = self.cache.target_lines(Path(checked.path), context=" ".join([record.caption, *record.mentions]))
        except (ValueError, OSError, RuntimeError):
            self.stats.ocr["failed"] += 1
            return record
        if not ocr:
            self.stats.ocr["empty"] += 1
            return record
        engine = f"engine:{self.cache.engine.name}"
        self.stats.ocr[engine] += 1
        return record.model_copy(update={"ocr": ocr, "ocr_from": engine})


class TargetBuilder:
    """Records → their instructions, targets cut to the token limit, split by paper, as the lines
    of the output files."""

    def __init__(self, cfg: FigureCurationConfig, tokenizer, seed: int, stats: Stats):
        self.cfg = cfg
        self.seed = seed
        self.known_types = tuple(cfg.figure_types)
        self.tasks = frozenset(cfg.tasks)
        self.limiter = TargetLimiter(tokenizer, cfg.max_target_tokens)
        self.stats = stats

    def split(self, record: FigureRecord) -> str:
        return _split_of(record.source.paper_id, self.cfg.test_fraction, self.cfg.val_fraction)

    def instructions(self, records: list[FigureRecord]) -> list[tuple[FigureRecord, str, list[dict] | Rejection]]:
        """Each record's split and instructions (`Instruction`'s JSON form, see `instruction_rows`)
        with targets cut to the token limit, or why it has none.

        Token counts are exact for every target that could exceed the limit, and for a fixed 1-in-8
        sample of the free-text targets (by a hash of the instruction id), which feeds the length
        histogram; all of a batch's targets are counted in one tokenizer call.
        """
        cfg = self.cfg
        components, known, seed, tasks = cfg.components, self.known_types, self.seed, self.tasks
        test, val, per_figure = cfg.test_fraction, cfg.val_fraction, cfg.type_prompts_per_figure
        splits, built = [], []
        for record in records:  # one loop, not a comprehension per list: this runs for every record
            split = _split_of(record.source.paper_id, test, val)
            splits.append(split)
            # Several type prompts per training figure; a held-out figure is asked once, so it is scored once.
            built.append(instruction_rows(record, components, known, seed, per_figure if split == "train" else 1,
                                          tasks))
        # Per target (in the order of `built`, flattened): its text, whether it is in the sample, and
        # its token count where needed (by position: a list per target cost more than counting them).
        answers = [row["conversations"][-1]["value"] for rows in built for row in rows]
        sampled = [_sampled(row) for rows in built for row in rows]
        may_exceed = self.limiter.may_exceed
        counted = [n for n, answer in enumerate(answers) if sampled[n] or may_exceed(answer)]
        tokens_of = dict(zip(counted, self.limiter.lengths([answers[n] for n in counted])))
        limit = self.cfg.max_target_tokens
        out = []
        position = 0
        for record, split, rows in zip(records, splits, built):
            kept: list[dict] = []
            failure = None
            for n, row in enumerate(rows, start=position):
                answer = answers[n]
                if IMAGE_PLACEHOLDER in answer:  # only OCR read after the checks brings one here:
                    Instruction.model_validate(row)  # refused as before, naming the instruction
                tokens = tokens_of.get(n)
                if tokens is not None and tokens > limit:
                    cut = self.limiter.cut(answer)
                    if cut is None:
                        failure = Rejection(
                            id=record.id, dataset=record.source.dataset, kind="first_sentence_too_long",
                            reason=f"the first sentence of its {row['source']['task']} target is longer than "
                                   f"{limit} tokens")
                        break
                    self.stats.truncated += 1
                    tokens = self.limiter.lengths([cut])[0]
                    row = {**row, "conversations": [*row["conversations"][:-1], {"from": "gpt", "value": cut}],
                           "source": {**row["source"], "truncated_to_tokens": limit}}
                if sampled[n]:
                    self.stats.add_length(tokens)
                kept.append(row)
            position += len(rows)
            out.append((record, split, failure or kept))
        return out

    def lines(self, records: list[FigureRecord]) -> list[tuple[str, str, str]]:
        """(file name, JSON line without newline, rejection kind or '') for each output line of RECORDS."""
        out = []
        stats = self.stats
        kept_splits, types, tasks = [], [], []  # counted once per batch, not once per record
        for record, split, result in self.instructions(records):
            if isinstance(result, Rejection):
                out.append(("rejected.jsonl", result.model_dump_json(), result.kind))
                continue
            kept_splits.append(split)
            types.append(record.figure_type or "(unknown)")
            if result:  # a split with no instruction has no entry, not a zero
                stats.instructions[split] += len(result)
            tasks += [row["source"]["task"] for row in result]
            out.append((_RECORD_FILES[split], record_line(record), ""))
            name = _INSTRUCTION_FILES[split]
            out += [(name, json_line(row), "") for row in result]
        stats.kept.update(kept_splits)
        stats.types.update(types)
        stats.tasks.update(tasks)
        return out


_INSTRUCTION_FILES = {s: f"{s}.jsonl" for s in SPLITS}
_RECORD_FILES = {s: f"records_{s}.jsonl" for s in SPLITS}
# A paper's figures come together (and every paper's split is a SHA-1 of its id): worked out once per paper.
_split_of = lru_cache(maxsize=4096)(split_of)


def json_line(value: dict) -> str:
    """VALUE (plain JSON types) as the line pydantic writes (`to_json`: compact, UTF-8, keys in
    order), by orjson at a third of the cost; a value orjson refuses (a lone surrogate, an integer
    past 64 bits) goes to pydantic, which writes it or raises as before."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return to_json(value).decode()


def record_line(record: FigureRecord) -> str:
    """`record.model_dump_json()`: a model's `__dict__` holds its fields in declaration order, and
    a FigureRecord's only nested model is its source."""
    return json_line({**record.__dict__, "source": record.source.__dict__})


OUTPUT_FILES = (*(f"{s}.jsonl" for s in SPLITS), *(f"records_{s}.jsonl" for s in SPLITS), "rejected.jsonl")


class FigureCuration:
    """One curation run into OUT_DIR, in this process."""

    def __init__(self, cfg: FigureCurationConfig, out_dir: Path, image_root: Path, tokenizer, seed: int = 0,
                 ocr_cache: Path | None = None):
        self.cfg = cfg
        self.out_dir = Path(out_dir)
        self.image_root = Path(image_root)
        self.seed = seed
        self.stats = Stats()
        self.checks = RecordChecks(cfg, image_root)
        self.ocr = OcrFill(cfg.ocr, ocr_cache or self.out_dir / "ocr_cache", self.stats)
        self.targets = TargetBuilder(cfg, tokenizer, seed, self.stats)

    def run(self, items: Iterable[FigureRecord | Rejection], on_item: Callable[[int], None] | None = None,
            chunk: int = 512) -> dict:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        seen = SeenIndex(self.out_dir / ".seen.sqlite")
        handles = {name: (self.out_dir / (name + ".tmp")).open("w", encoding="utf-8") for name in OUTPUT_FILES}
        written = Counter()  # lines per file, for the manifest
        try:
            iterator = iter(items)
            while batch := list(islice(iterator, chunk)):
                lines: dict[str, list[str]] = {name: [] for name in OUTPUT_FILES}
                for name, line, kind in self._chunk(batch, seen):
                    if kind:
                        self.stats.rejected[kind] += 1
                    lines[name].append(line)
                for name, block in lines.items():  # one write per file and chunk
                    if block:
                        handles[name].write("\n".join(block) + "\n")
                        written[name] += len(block)
                if on_item:
                    on_item(len(batch))
        finally:
            for handle in handles.values():
                handle.close()
            seen.close()
        return finish(self.out_dir, self.stats, self.cfg, self.seed, self.image_root, self.ocr.cache,
                      getattr(self.targets.limiter.tokenizer, "name_or_path", ""),
                      lines={name: written[name] for name in OUTPUT_FILES})

    def _chunk(self, batch: list[FigureRecord | Rejection], seen: SeenIndex) -> Iterator[tuple[str, str, str]]:
        self.stats.records_in += len(batch)
        checked = [item if isinstance(item, Rejection) else self.checks(item) for item in batch]
        verdicts = iter(seen.claim_many([(c.keys, c.record.id) for c in checked if isinstance(c, Checked)]))
        kept = []
        for item in checked:
            taken = next(verdicts) if isinstance(item, Checked) else None
            if taken is not None:
                item = duplicate_rejection(item.record, *taken)
            if isinstance(item, Rejection):
                yield "rejected.jsonl", item.model_dump_json(), item.kind
            else:
                kept.append(self.ocr(item))
        yield from self.targets.lines(kept)


def finish(out_dir: Path, stats: Stats, cfg: FigureCurationConfig, seed: int, image_root: Path,
           ocr_cache: OcrCache | None, tokenizer_name: str, ocr_counts: tuple[int, int] | None = None,
           lines: dict[str, int] | None = None) -> dict:
    """Complete files appear only when the whole corpus went through: the temporary files take their
    names, then the quality report and the manifest are written (LINES: the lines the caller wrote
    to each output file, when it counted them). Returns the quality report."""
    for name in OUTPUT_FILES:
        (out_dir / (name + ".tmp")).replace(out_dir / name)
    result = stats.to_json()
    result["config"] = cfg.model_dump(mode="json")
    if ocr_counts is not None:
        result["ocr"].update(cache_hits=ocr_counts[0], cache_misses=ocr_counts[1])
    elif ocr_cache is not None:
        result["ocr"].update(cache_hits=ocr_cache.hits, cache_misses=ocr_cache.misses)
    write_quality_report(out_dir, result)
    write_manifest(out_dir, "figures", image_root, result["config"], seed,
                   {f"{s}.jsonl": s for s in SPLITS}, records={s: f"records_{s}.jsonl" for s in SPLITS},
                   labels=list(cfg.figure_types), counts=lines, tokenizer=tokenizer_name)
    return result


def write_quality_report(out_dir: Path, result: dict) -> None:
    """quality.json, quality.md and quality.png (figure types; target lengths in tokens)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    out_dir = Path(out_dir)
    (out_dir / "quality.json").write_text(json.dumps(result, indent=2))
    fig = Figure(figsize=(9, 3.2), dpi=110)
    left, right = fig.subplots(1, 2)
    types = result["figure_types"]
    left.barh(list(types)[::-1], list(types.values())[::-1], color="tab:blue")
    left.set_title("records per figure type", fontsize=9)
    left.tick_params(labelsize=7)
    histogram = result["target_tokens_histogram_sample_1_in_8"]
    right.bar(list(histogram), list(histogram.values()), color="tab:green")
    right.set_title("targets by length (tokens; a 1-in-8 sample)", fontsize=9)
    right.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "quality.png")
    lines_md = [
        "# Figure curation: quality report", "",
        f"Records in {result['records_in']} = kept {result['records_kept']} + rejected {result['records_rejected']}"
        f" ({'adds up' if result['adds_up'] else 'DOES NOT ADD UP'}).", "",
        "| split | records | instructions |", "|---|---|---|",
        *(f"| {s} | {result['kept_per_split'].get(s, 0)} | {result['instructions_per_split'].get(s, 0)} |"
          for s in SPLITS),
        "", "| rejected because | records |", "|---|---|",
        *(f"| {reason} | {count} |" for reason, count in result["rejected_by_kind"].items()),
        "", f"Targets cut at a sentence boundary to {result['config']['max_target_tokens']} tokens: "
            f"{result['targets_truncated']}. OCR: " + (", ".join(f"{k} {v}" for k, v in result["ocr"].items() if v)
                                                        or "not run") + ".",
        "", "![figure types and target lengths](quality.png)", "",
    ]
    (out_dir / "quality.md").write_text("\n".join(lines_md), encoding="utf-8")
