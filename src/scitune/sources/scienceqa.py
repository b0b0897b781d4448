"""ScienceQA readers: the official release, the Hugging Face parquet release, LLaVA's converted files.

Every reader yields `Problem`s keyed by pid and reports what it could not read instead of crashing:
a `ProblemSet` holds the problems and a list of `(pid, reason)` rejections. Metadata a source lacks
(LLaVA's files carry no subject, grade, lecture…) stays None; it is never guessed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from scitune.contracts import LETTERS, Problem, Rejection


_HF_SPLITS = {"train": "train", "validation": "val", "val": "val", "test": "test"}


@dataclass
class ProblemSet:
    """Problems by pid, plus everything that was rejected or looked wrong, with reasons."""

    problems: dict[str, Problem] = field(default_factory=dict)
    rejected: list[Rejection] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)

    def reject(self, pid: str, kind: str, reason: str, where: str = "") -> None:
        self.rejected.append(Rejection(id=pid, dataset="scienceqa", kind=kind, reason=reason, where=where))

    def add(self, pid: str, make) -> None:
        if pid in self.problems:
            self.reject(pid, "duplicate_pid", "duplicate pid; the first occurrence is kept")
            return
        try:
            self.problems[pid] = make()
        except (ValidationError, ValueError, TypeError) as error:
            reason = error.errors()[0]["msg"] if isinstance(error, ValidationError) else str(error)
            self.reject(pid, "invalid_problem", reason)

    def restrict(self, pids: list[str]) -> ProblemSet:
        """Only the listed pids, in that order; pids with no problem are reported as warnings."""
        kept = ProblemSet(rejected=list(self.rejected), warnings=list(self.warnings))
        for pid in pids:
            if pid in self.problems:
                kept.problems[pid] = self.problems[pid]
            elif not any(r.id == pid for r in self.rejected):
                kept.warnings.append((pid, "listed in the split but not among the problems"))
        return kept


def read_split_ids(pid_splits: Path, split: str) -> list[str]:
    """The pids of one official split from pid_splits.json."""
    splits = json.loads(Path(pid_splits).read_text(encoding="utf-8"))
    if split not in splits:
        raise ValueError(f"{pid_splits} has no split '{split}'; it has {', '.join(splits)}")
    return [str(pid) for pid in splits[split]]


def read_official(problems_json: Path, image_root: Path | None = None) -> ProblemSet:
    """problems.json ({pid: fields}); image paths become `{split}/{pid}/image.png` under image_root.

    Images are not opened here: only their existence is checked, and only when image_root is given.
    """
    raw = json.loads(Path(problems_json).read_text(encoding="utf-8"))
    result = ProblemSet()
    for pid, fields in raw.items():
        pid = str(pid)
        if not isinstance(fields, dict):
            result.reject(pid, "invalid_problem", "not a JSON object")
            continue
        image = f"{fields.get('split')}/{pid}/{fields['image']}" if fields.get("image") else None
        if image and image_root is not None and not (Path(image_root) / image).is_file():
            result.warnings.append((pid, f"image {image} is missing under {image_root}"))
        result.add(pid, lambda f=fields, i=image, p=pid: Problem(pid=p, **{**f, "image": i}))
    return result


def read_parquet(source: Path, extract_images_to: Path | None = None) -> ProblemSet:
    """The Hugging Face release (`derek-thomas/ScienceQA`): one parquet file per split.

    That release has no pid column, so pids are `{split}-{row}`. Row groups are read one at a time;
    image bytes are written to EXTRACT_IMAGES_TO/{split}/{pid}/image.png only when asked.
    """
    import pyarrow.parquet as pq

    source = Path(source)
    files = sorted(source.glob("*.parquet")) if source.is_dir() else [source]
    result = ProblemSet()
    for file in files:
        split = next((s for name, s in _HF_SPLITS.items() if file.name.startswith(name)), None)
        if split is None:
            result.warnings.append((file.name, "file name does not start with a split name; skipped"))
            continue
        row = 0
        parquet = pq.ParquetFile(file)
        for group in range(parquet.num_row_groups):
            for record in parquet.read_row_group(group).to_pylist():
                pid = f"{split}-{row}"
                row += 1
                image_bytes = (record.pop("image", None) or {}).get("bytes")
                image = f"{split}/{pid}/image.png" if image_bytes else None
                if image_bytes and extract_images_to is not None:
                    target = Path(extract_images_to) / image
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(image_bytes)
                fields = {k: v for k, v in record.items() if k in Problem.model_fields}
                result.add(pid, lambda f=fields, i=image, p=pid: Problem(pid=p, split=split, **{**f, "image": i}))
    return result


def parse_llava_prompt(text: str) -> tuple[str, str, list[str], bool]:
    """LLaVA's human turn `[<image>\\n][Context: hint\\n]question\\nA. x\\nB. y…` → (question, hint, choices, image).

    Choices are read from the end: the last `\\nX. ` marker names the last letter, and each earlier
    letter is the nearest marker before it (a choice may span lines). When a hint is present the
    question is taken to be the last line before the choices: the boundary is ambiguous when both span lines.
    """
    has_image = text.startswith("<image>\n")
    body = "\n" + (text[len("<image>\n"):] if has_image else text)
    positions = {letter: body.rfind(f"\n{letter}. ") for letter in LETTERS}
    last = max(positions, key=positions.get)
    if positions[last] < 0:
        raise ValueError("no lettered choices at the end of the prompt")
    choices: list[str] = []
    end = len(body)
    for letter in reversed(LETTERS[: LETTERS.index(last) + 1]):
        start = body.rfind(f"\n{letter}. ", 0, end)
        if start < 0:
            raise ValueError(f"choice {letter} is missing before choice {LETTERS[LETTERS.index(letter) + 1]}")
        choices.insert(0, body[start + len(letter) + 3 : end])
        end = start
    lines = body[1:end].split("\n") if end > 0 else [""]
    hint = ""
    if lines[0].startswith("Context: "):
        lines[0] = lines[0][len("Context: "):]
        hint, question = "\n".join(lines[:-1]), lines[-1]
    else:
        question = "\n".join(lines)
    return question, hint, choices, has_image


def read_llava(path: Path) -> ProblemSet:
    """LLaVA's converted file (`llava_{split}_{FORMAT}.json`, a list of conversations)."""
    path = Path(path)
    match = re.match(r"llava_([a-z]+)_", path.name)
    split = match.group(1) if match else "unknown"
    result = ProblemSet()
    for item in json.loads(path.read_text(encoding="utf-8")):
        pid = str(item.get("id"))
        try:
            turns = item["conversations"]
            question, hint, choices, has_image = parse_llava_prompt(turns[0]["value"])
            letter = turns[1]["value"].strip().rstrip(".")
            if letter not in "ABCDE"[: len(choices)] or not letter:
                raise ValueError(f"answer '{turns[1]['value']}' is not one of the choice letters")
        except (KeyError, IndexError, TypeError, ValueError) as error:
            result.reject(pid, "unparsable_llava_item", f"cannot parse the LLaVA conversation: {error}")
            continue
        image = item.get("image") if has_image or item.get("image") else None
        result.add(pid, lambda: Problem(pid=pid, question=question, choices=choices, answer="ABCDE".index(letter),
                                        hint=hint, image=image, split=split))
    return result


def merge(sets: list[ProblemSet]) -> ProblemSet:
    """Several sources as one; a pid found in two sources keeps the first and is reported."""
    merged = ProblemSet()
    for problem_set in sets:
        merged.rejected += problem_set.rejected
        merged.warnings += problem_set.warnings
        for pid, problem in problem_set.problems.items():
            merged.add(pid, lambda p=problem: p)
    return merged


def read_problems_jsonl(path: Path) -> ProblemSet:
    """Problems in SciTune's own contract, one per line (the demo corpus, curated `problems_*.jsonl`)."""
    result = ProblemSet()
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                fields = json.loads(line)
            except json.JSONDecodeError as error:
                result.reject(str(number), "invalid_json", f"not valid JSON: {error}", where=f"{path}:{number}")
                continue
            pid = str(fields.get("pid", number)) if isinstance(fields, dict) else str(number)
            result.add(pid, lambda f=fields: Problem.model_validate(f))
    return result


def is_parquet(path: Path) -> bool:
    return Path(path).is_dir() or Path(path).suffix == ".parquet"


def load_problems(path: Path, image_root: Path | None = None, extract_images_to: Path | None = None) -> ProblemSet:
    """Any release, told apart by its shape: a parquet file or folder (its images, stored inside,
    written to EXTRACT_IMAGES_TO when given), a LLaVA list, problems.json, or our Problem JSONL."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"problems file {path} does not exist")
    if is_parquet(path):
        return read_parquet(path, extract_images_to)
    if path.suffix == ".jsonl":
        return read_problems_jsonl(path)
    with path.open(encoding="utf-8") as handle:
        first = handle.read(1 << 12).lstrip()[:1]
    if first == "[":
        return read_llava(path)
    return read_official(path, image_root)


def iter_split(problem_set: ProblemSet, split: str | None) -> Iterator[Problem]:
    """Problems whose own `split` field matches (all when split is None)."""
    for problem in problem_set.problems.values():
        if split is None or problem.split == split:
            yield problem


def load_sources(paths: list[Path], extract_images_to: Path | None = None) -> ProblemSet:
    """Several releases read and merged (the first source wins a pid that two of them hold)."""
    return merge([load_problems(path, extract_images_to=extract_images_to) for path in paths])


def select(problem_set: ProblemSet, splits: Path | None = None, split: str | None = None) -> list[Problem]:
    """The problems of SPLIT: exactly the official pid list (in its order) when pid_splits.json is
    given, else each problem's own `split` field (all problems when SPLIT is None). Listed pids that
    are missing are added to the set's warnings."""
    if splits is None:
        return list(iter_split(problem_set, split))
    if split is None:
        raise ValueError("a pid_splits.json needs a split name (e.g. train, val, test, minitest)")
    chosen = problem_set.restrict(read_split_ids(splits, split))
    problem_set.warnings += chosen.warnings[len(problem_set.warnings):]  # restrict copies, then adds
    return list(chosen.problems.values())
