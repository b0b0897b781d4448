"""Compare two evaluations: every metric side by side with its difference, and the items that changed.

An evaluation folder holds scores.json (any benchmark's, or a run's combined one) and, beside it or
in its benchmark subfolders, predictions.jsonl. A run folder stands for the evaluation of its last
stage. Items are compared through the per-item `outcomes` (1 right, 0 wrong) the scorers record.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

# Per-item tables and bookkeeping, not metrics.
_SKIP = {"outcomes", "confusion", "issues", "by_topic", "by_skill", "unavailable", "labels", "counts", "correct"}


def resolve(folder: Path) -> Path:
    """The evaluation folder FOLDER stands for."""
    folder = Path(folder)
    if (folder / "scores.json").is_file():
        return folder
    recipe = folder / "recipe.yaml"
    if (folder / "eval").is_dir() and recipe.is_file():
        stages = yaml.safe_load(recipe.read_text()).get("stages") or []
        last = stages[-1]["name"] if stages else "base"
        if (folder / "eval" / last / "scores.json").is_file():
            return folder / "eval" / last
    raise ValueError(f"{folder} has no scores.json (an evaluation folder) nor a finished eval/ (a run folder)")


def flatten(scores: dict, prefix: str = "") -> dict[str, float]:
    """Numeric metrics as 'path.to.metric' → value."""
    found = {}
    for key, value in scores.items():
        if key in _SKIP:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            found.update(flatten(value, name + "."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            found[name] = value
    return found


def outcomes(scores: dict, prefix: str = "") -> dict[str, int]:
    """Every per-item outcome in SCORES, keyed 'set:item' when nested."""
    found = {}
    for key, value in scores.items():
        if key == "outcomes" and isinstance(value, dict):
            found.update({f"{prefix}{item}": hit for item, hit in value.items()})
        elif isinstance(value, dict):
            found.update(outcomes(value, f"{prefix}{key}:"))
    return found


def predictions(folder: Path) -> dict[str, str]:
    """Answer text per item id, from every predictions file under FOLDER."""
    texts = {}
    for path in sorted(folder.rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
                texts.setdefault(record["id"], record["text"])
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
    return texts


def compare(a: Path, b: Path) -> dict:
    a, b = resolve(a), resolve(b)
    scores_a, scores_b = (json.loads((f / "scores.json").read_text()) for f in (a, b))
    metrics_a, metrics_b = flatten(scores_a), flatten(scores_b)
    rows = [(name, metrics_a.get(name), metrics_b.get(name)) for name in sorted(set(metrics_a) | set(metrics_b))]
    items_a, items_b = outcomes(scores_a), outcomes(scores_b)
    shared = sorted(set(items_a) & set(items_b))
    texts_a, texts_b = predictions(a), predictions(b)

    def changed(was: int, now: int) -> list[dict]:
        out = []
        for key in shared:
            if items_a[key] == was and items_b[key] == now:
                item = key.rsplit(":", 1)[-1]
                out.append({"id": key, "a": texts_a.get(item, ""), "b": texts_b.get(item, "")})
        return out

    return {
        "a": str(a), "b": str(b), "metrics": rows,
        "fixed": changed(0, 1), "broken": changed(1, 0),
        "shared_items": len(shared), "only_a": len(set(items_a) - set(items_b)),
        "only_b": len(set(items_b) - set(items_a)),
    }


def markdown(result: dict, show: int = 10) -> str:
    def cell(value) -> str:
        return "–" if value is None else f"{value:g}"

    lines = [f"A: `{result['a']}`  ", f"B: `{result['b']}`", "", "| metric | A | B | B − A |", "|---|---|---|---|"]
    for name, va, vb in result["metrics"]:
        delta = f"{vb - va:+.2f}" if va is not None and vb is not None else "–"
        lines.append(f"| {name} | {cell(va)} | {cell(vb)} | {delta} |")
    lines += ["", f"Items scored in both: {result['shared_items']} · fixed (wrong → right) {len(result['fixed'])} · "
                  f"broken (right → wrong) {len(result['broken'])} · only in A {result['only_a']} · "
                  f"only in B {result['only_b']}"]
    for kind in ("fixed", "broken"):
        if result[kind]:
            lines += ["", f"### {kind}", "", "| item | A answered | B answered |", "|---|---|---|"]
            for item in result[kind][:show]:
                a, b = (" ".join(item[k].split())[-80:].replace("|", "\\|") for k in ("a", "b"))
                lines.append(f"| {item['id']} | {a} | {b} |")
            if len(result[kind]) > show:
                lines.append(f"| … {len(result[kind]) - show} more | | |")
    return "\n".join(lines) + "\n"
