"""What each step of a run was made from, so a rerun reuses only work made under the same settings.

A step's fingerprint covers exactly what its outputs depend on: the recipe settings it reads, the
content of the input files it reads from outside the run, and the fingerprints of the steps whose
outputs it reads. It is written to `RUN/.steps/STEP.json` when the step starts (`done: false`) and
again when it ends (`done: true`, with its duration). On a rerun a step whose recorded fingerprint
differs is stale: its outputs are removed before anything runs (so `recipe.yaml` describes every
artifact beside it) and the message names the settings that changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

HASHED_BYTES = 256 << 20
"""Input files up to this size are hashed by content; larger ones (multi-GB corpora) and folders
by size and modification time, so a rerun does not reread a corpus to notice it is unchanged."""


def input_digest(path: Path) -> str:
    """Content hash of a file (size and mtime beyond HASHED_BYTES); a folder by its listing."""
    path = Path(path)
    if not path.exists():
        return "missing"
    if path.is_dir():
        digest = hashlib.sha256()
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                stat = os.stat(os.path.join(root, name))
                digest.update(f"{os.path.relpath(os.path.join(root, name), path)}\0{stat.st_size}\0"
                              f"{stat.st_mtime_ns}\n".encode())
        return "listing:" + digest.hexdigest()
    stat = path.stat()
    if stat.st_size > HASHED_BYTES:
        return f"stat:{stat.st_size}:{stat.st_mtime_ns}"
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Step:
    """One step of a run: what it reads, what it writes, and how to run it."""

    name: str
    run: object  # Callable[[], None]
    settings: dict = field(default_factory=dict)
    """The recipe fields its outputs depend on (JSON values), by dotted name."""
    inputs: tuple[Path, ...] = ()
    """Files or folders it reads from outside the run folder."""
    after: tuple[str, ...] = ()
    """Steps whose outputs it reads."""
    outputs: tuple[Path, ...] = ()
    """What it writes; removed when the step is redone."""


def flatten(settings: dict, prefix: str = "") -> dict[str, object]:
    """{'a': {'b': 1}} → {'a.b': 1}: settings compared field by field."""
    flat = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def marker(run_dir: Path, name: str) -> Path:
    return Path(run_dir) / ".steps" / f"{name.replace(':', '_')}.json"


def recorded(run_dir: Path, name: str) -> dict | None:
    """What the run folder records about step NAME (None: never started)."""
    path = marker(run_dir, name)
    return json.loads(path.read_text()) if path.is_file() else None


@dataclass
class Plan:
    """The fingerprints of every step of a run, and how each compares with what is on disk."""

    run_dir: Path
    steps: list[Step]
    fingerprints: dict[str, str] = field(default_factory=dict)
    records: dict[str, dict] = field(default_factory=dict)

    def __post_init__(self) -> None:
        digests: dict[Path, str] = {}
        for step in self.steps:
            inputs = {str(p): digests.setdefault(Path(p), input_digest(p)) for p in step.inputs}
            after = {name: self.fingerprints[name] for name in step.after}
            record = {"settings": step.settings, "inputs": inputs, "after": after}
            self.records[step.name] = record
            self.fingerprints[step.name] = hashlib.sha256(
                json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()

    def marker(self, name: str) -> Path:
        return marker(self.run_dir, name)

    def recorded(self, name: str) -> dict | None:
        return recorded(self.run_dir, name)

    def is_done(self, name: str) -> bool:
        saved = self.recorded(name)
        return bool(saved and saved.get("done") and saved.get("fingerprint") == self.fingerprints[name])

    def changes(self, name: str) -> list[str] | None:
        """Why step NAME's work on disk was made under other settings (None when it is current or
        was never started)."""
        saved = self.recorded(name)
        if saved is None or saved.get("fingerprint") == self.fingerprints[name]:
            return None
        now, before = self.records[name], saved.get("record", {})
        old, new = flatten(before.get("settings", {})), flatten(now["settings"])
        reasons = [f"{key}: {old.get(key, '(unset)')!r} → {new.get(key, '(unset)')!r}"
                   for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]
        reasons += [f"input {path} changed" for path, digest in now["inputs"].items()
                    if before.get("inputs", {}).get(path) != digest]
        reasons += [f"{step} is redone" for step, digest in now["after"].items()
                    if before.get("after", {}).get(step) != digest]
        return reasons or ["fingerprint differs"]

    def start(self, name: str) -> None:
        self._write(name, {"done": False})

    def finish(self, name: str, seconds: float) -> None:
        self._write(name, {"done": True, "seconds": round(seconds, 2)})

    def forget(self, step: Step) -> None:
        """Remove a stale step's outputs and its record."""
        import shutil

        for path in step.outputs:
            if Path(path).is_dir():
                shutil.rmtree(path)
            elif Path(path).exists():
                Path(path).unlink()
        self.marker(step.name).unlink(missing_ok=True)

    def _write(self, name: str, state: dict) -> None:
        path = self.marker(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({**state, "fingerprint": self.fingerprints[name], "record": self.records[name],
                                   "time": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=2, default=str))
        tmp.replace(path)
