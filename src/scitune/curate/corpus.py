"""`scitune curate figures`: a stream of FigureRecords from any reader → checked, deduplicated,
OCR-completed, length-limited instructions split by paper, with every rejection written down.

Memory does not grow with the corpus: records flow through in chunks, the state that must see
every record (ids, image hashes, captions per paper) lives in an on-disk SQLite index, and the
statistics are counters and a fixed histogram. Counts always add up: in = kept + rejected.

Files written to OUT_DIR: `{split}.jsonl` (instructions), `records_{split}.jsonl` (the kept
records, OCR filled in: the input of `scitune evaluate figures`), `rejected.jsonl` (id, reason,
where), `quality.json`, `quality.md`, `quality.png`, and `manifest.json` (image root, settings, seed,
labels, per-file counts and hashes: what training and evaluation read).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from itertools import islice
from pathlib import Path

from scitune.config import FigureCurationConfig
from scitune.contracts import IMAGE_PLACEHOLDER, FigureRecord, Instruction, Rejection
from scitune.curate.figures import figure_instructions
from scitune.curate.manifest import write_manifest
from scitune.curate.ocr import OcrCache, lines, make_engine
from scitune.figure_types import normalize_figure_type
from scitune.sources.images import ImageError, check_image, file_digest, inside_root, resolve_image
from scitune.sources.sentences import split_sentences
from scitune.sources.splits import SPLITS, split_of

LENGTH_BINS = (16, 32, 64, 128, 256, 384, 512, 1024, 2048)


def _sampled(item: Instruction) -> bool:
    """1 in 8 of the free-text targets (a type label's length says nothing), fixed by the item id."""
    return item.source["task"] != "figure_type" and zlib.crc32(item.id.encode("utf-8")) % 8 == 0


class SeenIndex:
    """First owner of each key (id, image digest, caption on a paper), kept on disk.

    A record claims all its keys in one statement; only when one of them was taken does it look up
    which, and then it withdraws its claims, so a rejected record never owns a key.
    """

    def __init__(self, path: Path):
        path.unlink(missing_ok=True)
        self.path = path
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("CREATE TABLE seen (key TEXT PRIMARY KEY, claim INTEGER, owner TEXT)")
        self.db.execute("CREATE INDEX by_claim ON seen (claim)")
        self.claims = 0

    def claim(self, keys: list[str], owner: str) -> tuple[str, str] | None:
        """None when every key is new (now owned by OWNER), else (the first taken key, its owner)."""
        self.claims += 1
        rows = [value for key in keys for value in (key, self.claims, owner)]
        values = ", ".join(["(?, ?, ?)"] * len(keys))
        if self.db.execute(f"INSERT OR IGNORE INTO seen VALUES {values}", rows).rowcount == len(keys):
            return None
        marks = ", ".join("?" * len(keys))
        taken = dict(self.db.execute(f"SELECT key, owner FROM seen WHERE key IN ({marks}) AND claim != ?",
                                     [*keys, self.claims]).fetchall())
        self.db.execute("DELETE FROM seen WHERE claim = ?", (self.claims,))
        first = next(key for key in keys if key in taken)
        return first, taken[first]

    def close(self) -> None:
        self.db.close()
        self.path.unlink(missing_ok=True)


class TargetLimiter:
    """Targets no longer than N tokens of the target LM's tokenizer, cut at sentence boundaries.

    A text never has more tokens than UTF-8 bytes plus one (byte-level BPE: at most one token per
    byte; SentencePiece may add one word-boundary token), so only texts longer than that bound are
    tokenised to enforce the limit: the exact rule at a fraction of the cost.
    """

    def __init__(self, tokenizer, max_tokens: int):
        self.tokenizer = tokenizer
        # The Rust tokenizer directly: the Python wrapper's per-text conversion costs more than encoding.
        self.backend = getattr(tokenizer, "backend_tokenizer", None)
        self.max_tokens = max_tokens

    def may_exceed(self, text: str) -> bool:
        return len(text.encode("utf-8")) + 1 > self.max_tokens

    def lengths(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        if self.backend is not None:
            return [len(e.ids) for e in self.backend.encode_batch(texts, add_special_tokens=False)]
        return [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]

    def cut(self, text: str) -> str | None:
        """The longest run of whole leading sentences within the limit; None if the first is too long."""
        sentences = split_sentences(text)
        low, high = 0, len(sentences)  # longer prefixes never have fewer tokens: bisect on the count
        while low < high:
            middle = (low + high + 1) // 2
            if self.lengths([" ".join(sentences[:middle])])[0] <= self.max_tokens:
                low = middle
            else:
                high = middle - 1
        return " ".join(sentences[:low]) if low else None


class Stats:
    """Counters of one curation; bounded in size whatever the corpus."""

    def __init__(self) -> None:
        self.records_in = 0
        self.kept = Counter()  # split → records
        self.instructions = Counter()  # split → instructions
        self.rejected = Counter()  # rejection kind → count
        self.types = Counter()
        self.tasks = Counter()
        self.lengths = Counter()  # bin upper edge → targets
        self.truncated = 0
        self.ocr = Counter()  # filled / carried / failed / empty

    def add_length(self, tokens: int) -> None:
        self.lengths[next((edge for edge in LENGTH_BINS if tokens <= edge), LENGTH_BINS[-1] * 2)] += 1

    def to_json(self) -> dict:
        rejected = sum(self.rejected.values())
        return {
            "records_in": self.records_in, "records_kept": sum(self.kept.values()), "records_rejected": rejected,
            "adds_up": self.records_in == sum(self.kept.values()) + rejected,
            "kept_per_split": dict(self.kept), "instructions_per_split": dict(self.instructions),
            "rejected_by_kind": dict(self.rejected.most_common()), "figure_types": dict(self.types.most_common()),
            "instructions_per_task": dict(self.tasks), "target_tokens_histogram_sample_1_in_8": {
                f"<={edge}": self.lengths[edge] for edge in sorted(self.lengths)},
            "targets_truncated": self.truncated, "ocr": dict(self.ocr),
        }


class FigureCuration:
    """One curation run into OUT_DIR."""

    def __init__(self, cfg: FigureCurationConfig, out_dir: Path, image_root: Path, tokenizer, seed: int = 0,
                 ocr_cache: Path | None = None):
        self.cfg = cfg
        self.out_dir = Path(out_dir)
        self.image_root = Path(image_root)
        self.seed = seed
        self.known_types = tuple(cfg.figure_types)
        self.limiter = TargetLimiter(tokenizer, cfg.max_target_tokens)
        self.stats = Stats()
        engine = make_engine(cfg.ocr)
        self.ocr = OcrCache(engine, ocr_cache or self.out_dir / "ocr_cache") if engine else None

    # -- per record -------------------------------------------------------------------------
    def check(self, record: FigureRecord, seen: SeenIndex) -> FigureRecord | Rejection:
        """The record as it will be used (type normalised, OCR filled), or why it is rejected."""

        def reject(kind: str, reason: str) -> Rejection:
            return Rejection(id=record.id, dataset=record.source.dataset, kind=kind, reason=reason)

        try:
            figure_type = normalize_figure_type(record.figure_type, self.known_types)
        except ValueError as error:
            if self.cfg.unknown_types == "reject":
                return reject("unknown_figure_type", str(error))
            figure_type = None
        if not record.caption.strip():
            return reject("empty_caption", "empty caption")
        if any(IMAGE_PLACEHOLDER in text for text in (record.caption, *record.ocr, *record.mentions,
                                                       *record.paragraphs)):
            return reject("image_placeholder_in_text", f"its text contains the image placeholder "
                                                       f"{IMAGE_PLACEHOLDER}, which would add an image slot")
        try:
            if self.cfg.image_check == "none":  # no file is opened: a lexical check, no disk access
                path = inside_root(self.image_root, record.image, record.id)
            else:
                path = resolve_image(self.image_root, record.image, record.id)
                check_image(path, record.id, self.cfg.image_check, self.cfg.max_pixels)
        except ImageError as error:
            return reject(error.kind, str(error))
        keys = [f"id:{record.id}"]
        if self.cfg.dedupe:
            keys.append(f"image:{file_digest(path) if self.cfg.image_check != 'none' else path}")
            keys.append(f"caption:{record.source.paper_id}\x00{' '.join(record.caption.lower().split())}")
        taken = seen.claim(keys, record.id)
        if taken is not None:
            key, owner = taken
            if key.startswith("id:"):
                return reject("duplicate_id", f"duplicate id {record.id}")
            if key.startswith("image:"):
                return reject("duplicate_image", f"same image as {owner}")
            return reject("duplicate_caption", f"same caption as {owner} on paper {record.source.paper_id}")
        ocr = record.ocr
        if ocr:
            self.stats.ocr["carried"] += 1
        elif self.ocr is not None:
            try:
                ocr = lines(self.ocr.read(Path(path)))
                self.stats.ocr["filled" if ocr else "empty"] += 1
            except (ValueError, OSError, RuntimeError):  # OCR trouble costs the O component, not the record
                self.stats.ocr["failed"] += 1
        return record.model_copy(update={"figure_type": figure_type, "ocr": ocr})

    def instructions(self, records: list[FigureRecord]) -> list[tuple[FigureRecord, list[Instruction] | Rejection]]:
        """Each record's instructions with targets cut to the token limit, or why it has none.

        Token counts are exact for every target that could exceed the limit, and for a fixed 1-in-8
        sample of the free-text targets (by a hash of the instruction id), which feeds the length
        histogram.
        """
        # Several type prompts per training figure; a held-out figure is asked once, so it is scored once.
        built = [(r, list(figure_instructions(
            [r], self.cfg.components, list(self.known_types), self.seed,
            self.cfg.type_prompts_per_figure if self.split(r) == "train" else 1, self.cfg.tasks))) for r in records]
        counted = [i for _, items in built for i in items
                   if self.limiter.may_exceed(i.conversations[-1].value) or _sampled(i)]
        tokens_of = dict(zip((i.id for i in counted), self.limiter.lengths([i.conversations[-1].value
                                                                            for i in counted])))
        out = []
        for record, items in built:
            kept: list[Instruction] = []
            failure = None
            for item in items:
                tokens = tokens_of.get(item.id)
                if tokens is not None and tokens > self.cfg.max_target_tokens:
                    cut = self.limiter.cut(item.conversations[-1].value)
                    if cut is None:
                        failure = Rejection(
                            id=record.id, dataset=record.source.dataset, kind="first_sentence_too_long",
                            reason=f"the first sentence of its {item.source['task']} target is longer than "
                                   f"{self.cfg.max_target_tokens} tokens")
                        break
                    self.stats.truncated += 1
                    tokens = self.limiter.lengths([cut])[0]
                    turns = [t.model_dump(by_alias=True) for t in item.conversations]
                    turns[-1]["value"] = cut
                    item = Instruction(id=item.id, image=item.image, conversations=turns,
                                       source={**item.source, "truncated_to_tokens": self.cfg.max_target_tokens})
                if tokens is not None and _sampled(item):
                    self.stats.add_length(tokens)
                kept.append(item)
            out.append((record, failure or kept))
        return out

    def split(self, record: FigureRecord) -> str:
        return split_of(record.source.paper_id, self.cfg.test_fraction, self.cfg.val_fraction)

    # -- the run ----------------------------------------------------------------------------
    def run(self, items: Iterable[FigureRecord | Rejection], on_item: Callable[[int], None] | None = None,
            chunk: int = 512) -> dict:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        seen = SeenIndex(self.out_dir / ".seen.sqlite")
        names = [*(f"{s}.jsonl" for s in SPLITS), *(f"records_{s}.jsonl" for s in SPLITS), "rejected.jsonl"]
        handles = {name: (self.out_dir / (name + ".tmp")).open("w", encoding="utf-8") for name in names}
        try:
            iterator = iter(items)
            while batch := list(islice(iterator, chunk)):
                self._chunk(batch, seen, handles)
                if on_item:
                    on_item(len(batch))
        finally:
            for handle in handles.values():
                handle.close()
            seen.close()
        for name in names:  # complete files appear only when the whole corpus went through
            (self.out_dir / (name + ".tmp")).replace(self.out_dir / name)
        result = self.stats.to_json()
        result["config"] = self.cfg.model_dump(mode="json")
        if self.ocr is not None:
            result["ocr"].update(cache_hits=self.ocr.hits, cache_misses=self.ocr.misses)
        write_quality_report(self.out_dir, result)
        write_manifest(self.out_dir, "figures", self.image_root, result["config"], self.seed,
                       {f"{s}.jsonl": s for s in SPLITS}, records={s: f"records_{s}.jsonl" for s in SPLITS},
                       labels=list(self.known_types), tokenizer=getattr(self.limiter.tokenizer, "name_or_path", ""))
        return result

    def _chunk(self, batch: list[FigureRecord | Rejection], seen: SeenIndex, handles: dict) -> None:
        checked = []
        for item in batch:
            self.stats.records_in += 1
            if isinstance(item, Rejection):
                self._reject(item, handles)
                continue
            result = self.check(item, seen)
            if isinstance(result, Rejection):
                self._reject(result, handles)
            else:
                checked.append(result)
        for record, result in self.instructions(checked):
            if isinstance(result, Rejection):
                self._reject(result, handles)
                continue
            split = self.split(record)
            self.stats.kept[split] += 1
            self.stats.types[record.figure_type or "(unknown)"] += 1
            handles[f"records_{split}.jsonl"].write(record.model_dump_json() + "\n")
            for instruction in result:
                self.stats.instructions[split] += 1
                self.stats.tasks[instruction.source["task"]] += 1
                handles[f"{split}.jsonl"].write(instruction.model_dump_json(by_alias=True) + "\n")

    def _reject(self, rejection: Rejection, handles: dict) -> None:
        self.stats.rejected[rejection.kind] += 1
        handles["rejected.jsonl"].write(rejection.model_dump_json() + "\n")


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
