"""The manifest beside every curated folder: what the next steps need to read it without guessing.

Curation writes `manifest.json` next to its JSONL files: the image root the instructions' paths are
relative to, the settings and seed that made them, the label set of the figure-type questions, and
per file its split, count and sha256. Training, prediction and evaluation read it, so no
`--image-root` has to be worked out again, and a result names the exact data it came from.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST = "manifest.json"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _lines(path: Path) -> int:
    """Lines that are not blank; a block at a time, with C-level calls per line (a Python loop over
    the lines of a large corpus cost more than hashing it)."""
    count, rest = 0, b""
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            count += sum(map(bool, map(bytes.strip, lines)))
    return count + bool(rest.strip())


def write_manifest(out_dir: Path, kind: str, image_root: Path | None, settings: dict, seed: int | None,
                   files: dict[str, str], labels: list[str] = (), counts: dict[str, int] | None = None,
                   **extra) -> dict:
    """Describe OUT_DIR's FILES ({file name: split}); returns what was written. COUNTS: the lines
    of some of the files, from the writer that knows them (each one a JSON line, none blank),
    so that they are not read again to count; the others are counted here."""
    out_dir = Path(out_dir)
    counts = counts or {}
    manifest = {
        "kind": kind,
        "image_root": str(Path(image_root).resolve()) if image_root is not None else None,
        "settings": settings,
        "seed": seed,
        "labels": list(labels),
        "files": {name: {"split": split, "count": counts[name] if name in counts else _lines(out_dir / name), "sha256": sha256_of(out_dir / name)}
                  for name, split in files.items() if (out_dir / name).is_file()},
        **extra,
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return manifest


def read_manifest(folder: Path) -> dict | None:
    path = Path(folder) / MANIFEST
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


@dataclass(frozen=True)
class CuratedSet:
    """One file of instructions and what its manifest says about it."""

    path: Path
    image_root: Path | None = None
    labels: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    @classmethod
    def open(cls, path: Path, image_root: Path | None = None) -> CuratedSet:
        """PATH: a JSONL/JSON file of instructions, or a curated folder (its test split). The image
        root is IMAGE_ROOT when given, else the manifest's (None when there is neither)."""
        path = Path(path)
        if path.is_dir():
            manifest = read_manifest(path)
            if manifest is None:
                raise ValueError(f"{path} is a folder without a {MANIFEST}: give an instruction file")
            test = [name for name, info in manifest["files"].items() if info["split"] == "test"]
            if not test:
                raise ValueError(f"{path}/{MANIFEST} lists no test file")
            path = path / test[0]
        manifest = read_manifest(path.parent) or {}
        if manifest and path.name not in manifest.get("files", {}):
            manifest = {}  # a manifest about other files says nothing about this one
        root = image_root if image_root is not None else manifest.get("image_root")
        return cls(path=path, image_root=Path(root) if root else None, labels=manifest.get("labels", []),
                   settings=manifest.get("settings", {}))
