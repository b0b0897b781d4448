"""ScienceQA problems → question instructions per split, with the problems beside them and a manifest.

The one ScienceQA selection of every path (the demo's rendered problems and the official release
alike): each role (train, val, test) takes an official split by its pid list, or each problem's
own `split` field. Files written to OUT_DIR: `{role}.jsonl` (instructions in the prompt format),
`problems_{role}.jsonl` (the problems, for scoring joined by id), `rejected.jsonl` and `manifest.json`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from scitune.config import QuestionCurationConfig
from scitune.contracts import write_jsonl
from scitune.curate.manifest import write_manifest
from scitune.curate.scienceqa import problem_instructions
from scitune.sources.scienceqa import is_parquet, load_sources, select

logger = logging.getLogger(__name__)


def curate_questions(paths: list[Path], cfg: QuestionCurationConfig, out_dir: Path, splits: Path | None = None,
                     image_root: Path | None = None) -> dict:
    """Curate every role of CFG into OUT_DIR; returns the manifest. Parquet sources carry their
    images inside: those are written to OUT_DIR/images, which then is the image root."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    extracted = out_dir / "images" if any(is_parquet(p) for p in paths) else None
    if extracted is not None and image_root is not None:
        raise ValueError("the parquet release carries its images; do not combine it with an image folder")
    problem_set = load_sources(paths, extract_images_to=extracted)
    roles = {"train": cfg.train_split, "val": cfg.val_split, "test": cfg.test_split}
    files, counts = {}, {}
    for role, split in roles.items():
        if split is None:
            continue
        chosen = select(problem_set, splits, split)
        counts[role] = write_jsonl(out_dir / f"{role}.jsonl", problem_instructions(chosen, cfg.format))
        write_jsonl(out_dir / f"problems_{role}.jsonl", chosen)
        files[f"{role}.jsonl"] = role
    write_jsonl(out_dir / "rejected.jsonl", problem_set.rejected)
    logger.info("questions: %s; %d problems rejected", counts, len(problem_set.rejected))
    return write_manifest(out_dir, "questions", extracted or image_root, cfg.model_dump(mode="json"), None, files,
                          splits={role: split for role, split in roles.items() if split is not None},
                          sources=[str(Path(p).resolve()) for p in paths], rejected=len(problem_set.rejected),
                          warnings=len(problem_set.warnings))
