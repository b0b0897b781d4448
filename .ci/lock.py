"""Is requirements.lock in sync with pyproject.toml? Offline, standard library only (Python 3.11+).

    python .ci/lock.py check [--root DIR]   exit 1, naming the refresh command, when the lock is stale
    python .ci/lock.py stamp [--root DIR]   record pyproject.toml's fingerprint in the lock (`make lock` does)

The fingerprint is a hash of what the lock is compiled from: requires-python, dependencies and the
optional dependencies of pyproject.toml (order-insensitive). Where `packaging` is importable (the
project's venv), `check` also verifies that every pin satisfies pyproject's ranges and that the lock
holds no torch and no CUDA wheels (torch is installed apart, so one lock serves CPU and GPU users).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

LOCK = "requirements.lock"
REFRESH = "make lock"
STAMP = "# pyproject.toml fingerprint: "
NOT_LOCKED = {"torch"}  # installed before the lock, by TORCH (CPU build by default)
# Extras that are not locked: DeepSpeed builds its sdist against the installed torch (a GPU machine's),
# so it is installed apart there (`pip install 'scitune[deepspeed]'`). Keep in step with the Makefile's
# LOCK_EXTRAS.
UNLOCKED_EXTRAS = {"deepspeed"}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", re.MULTILINE)


def _project(root: Path) -> dict:
    try:
        import tomllib
    except ImportError:
        sys.exit(f"{__file__} reads pyproject.toml with tomllib: run it with Python 3.11 or newer")
    return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def fingerprint(root: Path) -> str:
    project = _project(root)
    inputs = {
        "requires-python": project.get("requires-python", ""),
        "dependencies": sorted(project.get("dependencies", [])),
        "optional-dependencies": {k: sorted(v) for k, v in project.get("optional-dependencies", {}).items()},
    }
    return "sha256:" + hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _range_problems(root: Path, lock_text: str) -> list[str]:
    """Pins outside pyproject's ranges, direct requirements missing from the lock, torch or CUDA locked."""
    try:
        from packaging.requirements import Requirement
    except ImportError:
        return []
    pins = {_canonical(name): version for name, version in _PIN.findall(lock_text)}
    problems = [f"{name} is locked; it must be installed apart (TORCH)" for name in NOT_LOCKED if name in pins]
    problems += [f"{name} (a CUDA wheel) is locked; the lock must serve CPU-only machines"
                 for name in pins if name.startswith("nvidia-") or name == "triton"]
    project = _project(root)
    wanted = list(project.get("dependencies", []))
    for extra, requirements in project.get("optional-dependencies", {}).items():
        if extra not in UNLOCKED_EXTRAS:
            wanted += [(r, extra) for r in requirements]
    for item in wanted:
        text, extra = item if isinstance(item, tuple) else (item, "")
        requirement = Requirement(text)
        name = _canonical(requirement.name)
        if name in NOT_LOCKED or (requirement.marker and not requirement.marker.evaluate({"extra": extra})):
            continue
        if name not in pins:
            problems.append(f"{requirement} is not in the lock")
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{name}=={pins[name]} is locked, outside pyproject's '{requirement}'")
    return problems


def check(root: Path) -> list[str]:
    lock = root / LOCK
    if not lock.is_file():
        return [f"{LOCK} is missing"]
    text = lock.read_text(encoding="utf-8")
    recorded = next((line[len(STAMP):].strip() for line in text.splitlines() if line.startswith(STAMP)), None)
    problems = []
    if recorded != fingerprint(root):
        problems.append(f"pyproject.toml changed since {LOCK} was compiled (fingerprint {recorded or 'absent'})")
    return problems + _range_problems(root, text)


def stamp(root: Path) -> None:
    lock = root / LOCK
    lines = [line for line in lock.read_text(encoding="utf-8").splitlines() if not line.startswith(STAMP)]
    header = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    lines.insert(header, STAMP + fingerprint(root))
    lock.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("check", "stamp"))
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args()
    if args.action == "stamp":
        stamp(args.root)
        return 0
    problems = check(args.root)
    for problem in problems:
        print(f"{LOCK}: {problem}", file=sys.stderr)
    if problems:
        print(f"{LOCK} is stale: run `{REFRESH}` and commit {LOCK}.", file=sys.stderr)
        return 1
    print(f"{LOCK} is in sync with pyproject.toml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
