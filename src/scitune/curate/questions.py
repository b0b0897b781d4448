"""ScienceQA problems → question instructions per split, with the problems beside them and a manifest.

The one ScienceQA selection of every path (the demo's rendered problems and the official release
alike): each role (train, val, test) takes an official split by its pid list, or each problem's
own `split` field. Files written to OUT_DIR: `{role}.jsonl` (instructions in the prompt format),
`problems_{role}.jsonl` (the problems, for scoring joined by id), `rejected.jsonl` and `manifest.json`.

Copies of the release often lack images (the shared test data holds 300 of the 2,017 test images
and no train/val image). An image question whose file is absent is decided here, once, by
`missing_images`, rather than failing later in training (quarantined) or evaluation (scored wrong).
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from scitune.config import QuestionCurationConfig
from scitune.contracts import Instruction, Problem, Rejection, write_jsonl
from scitune.curate.manifest import write_manifest
from scitune.curate.scienceqa import problem_instruction, problem_instructions
from scitune.sources.images import ImageError, resolve_image
from scitune.sources.scienceqa import is_parquet, load_sources, select

logger = logging.getLogger(__name__)

TEXT_ONLY_ROLE = "train"
"""The only role whose image questions may become text-only: held-out questions stay the benchmark's."""


def _check_images(chosen: list[Problem], role: str, cfg: QuestionCurationConfig, image_root: Path | None,
                  rejected: list[Rejection]) -> tuple[list[Problem], set[str], Counter]:
    """The problems of ROLE that can be used, the pids to be trained without their (missing) image,
    and the counts by outcome; rejections are appended to REJECTED."""
    kept, without_image, counts = [], set(), Counter()
    for problem in chosen:
        if problem.image and image_root is not None:
            try:
                resolve_image(image_root, problem.image, problem.pid)
            except ImageError as error:
                if error.kind == "missing_image" and cfg.missing_images == "text_only" and role == TEXT_ONLY_ROLE:
                    without_image.add(problem.pid)
                    counts["text_only"] += 1
                else:
                    rejected.append(Rejection(id=problem.pid, dataset="scienceqa", kind=error.kind,
                                              reason=str(error), where=f"split {role}"))
                    counts[error.kind] += 1
                    continue
        kept.append(problem)
    return kept, without_image, counts


def _instructions(problems: list[Problem], prompt_format: str, without_image: set[str]):
    """Instructions of PROBLEMS; those in WITHOUT_IMAGE are asked as text-only questions, and their
    source keeps the path of the image they lack."""
    if not without_image:
        yield from problem_instructions(problems, prompt_format)
        return
    for problem in problems:
        if problem.pid not in without_image:
            yield problem_instruction(problem, prompt_format)
            continue
        instruction: Instruction = problem_instruction(problem.model_copy(update={"image": None}), prompt_format)
        yield instruction.model_copy(update={"source": {**instruction.source, "missing_image": problem.image}})


def curate_questions(paths: list[Path], cfg: QuestionCurationConfig, out_dir: Path, splits: Path | None = None,
                     image_root: Path | None = None) -> dict:
    """Curate every role of CFG into OUT_DIR; returns the manifest. Parquet sources carry their
    images inside: those are written to OUT_DIR/images, which then is the image root. Image questions
    are checked against the image root when there is one (see `QuestionCurationConfig.missing_images`)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    extracted = out_dir / "images" if any(is_parquet(p) for p in paths) else None
    if extracted is not None and image_root is not None:
        raise ValueError("the parquet release carries its images; do not combine it with an image folder")
    root = extracted or image_root
    if root is None and cfg.missing_images == "text_only":
        raise ValueError("missing_images=text_only needs the image folder (corpus.problems.images / --image-root) "
                         "to tell which images are missing")
    problem_set = load_sources(paths, extract_images_to=extracted)
    roles = {"train": cfg.train_split, "val": cfg.val_split, "test": cfg.test_split}
    files, counts, image_counts, rejected = {}, {}, {}, list(problem_set.rejected)
    for role, split in roles.items():
        if split is None:
            continue
        chosen, without_image, outcome = _check_images(select(problem_set, splits, split), role, cfg, root, rejected)
        counts[role] = write_jsonl(out_dir / f"{role}.jsonl", _instructions(chosen, cfg.format, without_image))
        write_jsonl(out_dir / f"problems_{role}.jsonl", chosen)
        files[f"{role}.jsonl"] = role
        image_counts[role] = dict(sorted(outcome.items()))
        if outcome:
            logger.info("questions %s: image questions without their image: %s", role, image_counts[role])
    if root is None:
        logger.warning("no image folder given: image questions are kept unchecked; a missing image fails "
                       "its sample at training and its item at evaluation")
    write_jsonl(out_dir / "rejected.jsonl", rejected)
    logger.info("questions: %s; %d problems rejected", counts, len(rejected))
    return write_manifest(out_dir, "questions", root, cfg.model_dump(mode="json"), None, files,
                          splits={role: split for role, split in roles.items() if split is not None},
                          sources=[str(Path(p).resolve()) for p in paths], rejected=len(rejected),
                          rejected_by_kind=dict(sorted(Counter(r.kind for r in rejected).items())),
                          image_checks=image_counts if root is not None else None,
                          warnings=len(problem_set.warnings))
