"""`scitune evaluate|score mathvista|chartqa|ai2d|mmmu|scifibench`: the benchmarks a scientific VLM is
judged on, scored as each benchmark's official evaluation does."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scitune.cli.apps import evaluate_app, score_app
from scitune.cli.common import BatchSize, Limit, SystemPrompt, console, setup_logging, user_errors
from scitune.cli.predict import Device, Dtype

Data = Annotated[Path, typer.Option(help="The release as downloaded: official JSON (file or folder) or the Hugging "
                                         "Face parquet files (a file or a folder).", exists=True)]
OutputDir = Annotated[Path, typer.Option(help="Folder for predictions.jsonl, scores.json/.md, report.html (and the "
                                              "images of a parquet release).")]
Model = Annotated[Path, typer.Option(help="A Llava checkpoint folder.")]
ImageRoot = Annotated[Path | None, typer.Option(
    help="Folder the official JSON's image paths are relative to (default: the release's own layout).")]
Predictions = Annotated[Path, typer.Option(
    help="Predictions JSONL ({id, text}) or LLaVA answers ({question_id, text}).", exists=True)]
ScoreDir = Annotated[Path | None, typer.Option(help="Write scores.json and scores.md here.")]
Extractor = Annotated[str, typer.Option(help="Who reads the final answer from a response: rules (documented, "
                                             "deterministic) or model (a local model, see --extractor-model).")]
ExtractorModel = Annotated[Path | None, typer.Option(
    help="The Llava checkpoint that extracts answers with --extractor model (default: the evaluated model).")]


Tokens16 = Annotated[int, typer.Option(min=1, help="Tokens generated per answer at most.")]
Tokens128 = Tokens16
Tokens256 = Tokens16


def _run(benchmark, model: Path, output_dir: Path, batch_size: int, max_new_tokens: int, system_prompt: str | None,
         extractor: str = "rules", extractor_model: Path | None = None, device: str = "auto",
         dtype: str = "auto") -> dict:
    """Generate, score and write the files; print the headline. The checkpoints load as for
    `scitune predict` (one placement rule; DEVICE and DTYPE override it)."""
    from scitune.cli.predict import _load, _on_main, _tracked
    from scitune.evaluate import suite
    from scitune.evaluate.benchmarks import Generation
    from scitune.model.build import trained_system_prompt

    if extractor not in ("rules", "model"):
        raise ValueError(f"--extractor must be rules or model, not {extractor}")
    llava, processor = _load(model, device, dtype)
    extracting = None
    if extractor == "model":
        if extractor_model is None or Path(extractor_model) == Path(model):
            extracting = (llava, processor, model.name)
        else:
            extracting = (*_load(extractor_model, device, dtype), extractor_model.name)
    system = trained_system_prompt(model) if system_prompt is None else system_prompt

    def run_it(advance):
        gen = Generation(batch_size, max_new_tokens, system, None, str(model), advance)
        return suite.run(benchmark, llava, processor, output_dir, gen, extracting)

    result = _tracked(benchmark.name, len(benchmark.instructions), run_it, batch_size)
    if _on_main():  # under torchrun every rank answered its share; rank 0 scored and writes
        _print(result, model.name, benchmark.title, output_dir)
    return result


def _print(result: dict, name: str, title: str, output_dir: Path | None) -> None:
    from scitune.evaluate import suite

    text = suite.markdown(result, name, title)
    console.print(text.split("\n### ")[0].rstrip())
    if output_dir is not None:
        console.print(f"→ {output_dir / 'scores.json'} · {output_dir / 'scores.md'}"
                      + (f" · {output_dir / 'report.html'}" if (output_dir / "report.html").is_file() else ""))


def _score(benchmark, predictions: Path, output_dir: Path | None) -> dict:
    """Score predictions made elsewhere with the benchmark's official scorer."""
    from scitune.evaluate import suite

    texts, issues = suite.load_texts(predictions)
    result = benchmark.score(texts, set(), None)
    result["issues"] = issues[:20] + result["issues"]
    _write_scores(result, benchmark, predictions.stem, output_dir)
    return result


def _write_scores(result: dict, benchmark, name: str, output_dir: Path | None) -> None:
    import json

    from scitune.evaluate import suite

    result = suite.with_context(result, benchmark)
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "scores.json").write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
        (output_dir / "scores.md").write_text(suite.markdown(result, name, benchmark.title), encoding="utf-8")
    _print(result, name, benchmark.title, output_dir)


def _first(data, limit: int | None):
    """Only the first LIMIT items (quick looks): predicted and scored alike."""
    if limit is not None:
        data.items = dict(list(data.items.items())[:limit])
    return data


def _report_rejected(data, name: str) -> None:
    if data.rejected:
        console.print(f"[yellow]![/yellow] {len(data.rejected)} {name} records could not be read, e.g. "
                      + "; ".join(f"{i}: {r}" for i, r in data.rejected[:3]))


# ------------------------------------------------------------------------------------------ MathVista

def _mathvista(data: Path, image_root: Path | None, image_dir: Path | None, split: str):
    from scitune.sources.benchmarks import mathvista

    loaded = mathvista.load(data, image_root=image_root, image_dir=image_dir, split=split)
    _report_rejected(loaded, "MathVista")
    return loaded


@evaluate_app.command("mathvista")
@user_errors
def evaluate_mathvista(
    model: Model, data: Data, output_dir: OutputDir, image_root: ImageRoot = None,
    split: Annotated[str, typer.Option(help="Parquet split: testmini or test (test answers are not public).")]
    = "testmini",
    extractor: Extractor = "rules", extractor_model: ExtractorModel = None,
    batch_size: BatchSize = 16, max_new_tokens: Tokens256 = 256, system_prompt: SystemPrompt = None,
    limit: Limit = None, device: Device = "auto", dtype: Dtype = "auto",
) -> None:
    """MathVista: the official query per problem, the answer extracted, the official calculate_score.py
    normalisation and every breakdown (question/answer type, task, context, grade, skills, source…)."""
    from scitune.evaluate import mathvista

    setup_logging(False)
    loaded = _first(_mathvista(data, image_root, output_dir / "images", split), limit)
    name = extractor_model.name if extractor_model else model.name
    _run(mathvista.benchmark(loaded, name), model, output_dir, batch_size, max_new_tokens, system_prompt,
         extractor, extractor_model, device=device, dtype=dtype)


@score_app.command("mathvista")
@user_errors
def score_mathvista(
    data: Data,
    predictions: Annotated[Path, typer.Option(
        help="Our predictions JSONL, or an official output file ({pid: {response, extraction, …}}).", exists=True)],
    extractor: Annotated[str, typer.Option(help="published (the file's `extraction`, as its authors scored it) or "
                                                "rules (read from `response` / `text`).")] = "published",
    split: Annotated[str, typer.Option(help="Parquet split.")] = "testmini",
    output_dir: ScoreDir = None,
) -> None:
    """Score MathVista answers made elsewhere. An official output file is scored as calculate_score.py
    does, with the problems' fields and metadata it carries (which reproduces its published scores)."""
    from scitune.evaluate import mathvista, suite

    loaded = _mathvista(data, None, None, split)
    if extractor not in ("published", "rules"):
        raise ValueError(f"--extractor must be published or rules, not {extractor}")
    bench = mathvista.benchmark(loaded)
    records = _official_output(predictions)
    if records is not None:
        problems, notes = mathvista.problems_from_output(records, loaded.items)
        if extractor == "published":
            missing = [pid for pid, r in records.items() if "extraction" not in r]
            if missing:
                raise ValueError(f"{predictions}: {len(missing)} records have no `extraction` (first {missing[0]}); "
                                 "use --extractor rules")
            result = mathvista.score(problems, {pid: r["extraction"] for pid, r in records.items()}, "published")
        else:
            result = mathvista.score_responses(problems, {pid: r.get("response", "") for pid, r in records.items()})
        result["issues"] = notes + result["issues"]
    else:
        if extractor == "published":
            raise ValueError(f"{predictions} is a predictions JSONL: it has no published extraction; use --extractor "
                             "rules")
        texts, issues = suite.load_texts(predictions)
        result = mathvista.score_responses(list(loaded.items.values()), texts)
        result["issues"] = issues[:20] + result["issues"]
    _write_scores(result, bench, predictions.stem, output_dir)


def _official_output(path: Path) -> dict | None:
    """The records of an official MathVista output file, or None for a predictions JSONL."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None  # JSONL: several objects
    if isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
        return {str(pid): record for pid, record in data.items()}
    return None


# ------------------------------------------------------------------------------------------ ChartQA

@evaluate_app.command("chartqa")
@user_errors
def evaluate_chartqa(
    model: Model, data: Data, output_dir: OutputDir, image_root: ImageRoot = None,
    split: Annotated[str, typer.Option(help="test, val or train.")] = "test",
    batch_size: BatchSize = 16, max_new_tokens: Tokens16 = 16, system_prompt: SystemPrompt = None,
    limit: Limit = None, device: Device = "auto", dtype: Dtype = "auto",
) -> None:
    """ChartQA: short answers, 5% relaxed accuracy overall and on the human / augmented halves."""
    from scitune.evaluate import chartqa
    from scitune.sources.benchmarks import chartqa as source

    setup_logging(False)
    loaded = source.load(data, image_root=image_root, image_dir=output_dir / "images", split=split)
    _report_rejected(loaded, "ChartQA")
    _run(chartqa.benchmark(_first(loaded, limit), split), model, output_dir, batch_size, max_new_tokens,
         system_prompt, device=device, dtype=dtype)


@score_app.command("chartqa")
@user_errors
def score_chartqa(data: Data, predictions: Predictions, split: Annotated[str, typer.Option()] = "test",
                  output_dir: ScoreDir = None) -> None:
    """ChartQA relaxed accuracy of predictions made elsewhere."""
    from scitune.evaluate import chartqa
    from scitune.sources.benchmarks import chartqa as source

    _score(chartqa.benchmark(source.load(data, split=split), split), predictions, output_dir)


# ------------------------------------------------------------------------------------------ AI2D

AI2DIds = Annotated[Path | None, typer.Option(
    help="Official release only: the test question ids (JSONL with question_id, or one per line).", exists=True)]


@evaluate_app.command("ai2d")
@user_errors
def evaluate_ai2d(
    model: Model, data: Data, output_dir: OutputDir, ids: AI2DIds = None,
    batch_size: BatchSize = 16, max_new_tokens: Tokens16 = 16, system_prompt: SystemPrompt = None,
    limit: Limit = None, device: Device = "auto", dtype: Dtype = "auto",
) -> None:
    """AI2D: lettered options, lmms-eval's exact letter match (and a lenient letter rule beside it)."""
    from scitune.evaluate import ai2d
    from scitune.sources.benchmarks import ai2d as source

    setup_logging(False)
    loaded = source.load(data, image_dir=output_dir / "images", ids=ids)
    _report_rejected(loaded, "AI2D")
    _run(ai2d.benchmark(_first(loaded, limit)), model, output_dir, batch_size, max_new_tokens, system_prompt,
         device=device, dtype=dtype)


@score_app.command("ai2d")
@user_errors
def score_ai2d(data: Data, predictions: Predictions, ids: AI2DIds = None, output_dir: ScoreDir = None) -> None:
    """AI2D accuracy of predictions made elsewhere."""
    from scitune.evaluate import ai2d
    from scitune.sources.benchmarks import ai2d as source

    _score(ai2d.benchmark(source.load(data, ids=ids)), predictions, output_dir)


# ------------------------------------------------------------------------------------------ MMMU

Subjects = Annotated[str, typer.Option(help="science (default), all, a discipline such as 'Health and Medicine', "
                                            "or comma-separated subjects (Physics,Chemistry).")]
MMMUPolicy = Annotated[str, typer.Option(help="A multiple-choice answer naming no option: random (official, a seeded "
                                              "draw per item) or wrong.")]


def _mmmu(data: Path, image_dir: Path | None, split: str, subjects: str):
    from scitune.sources.benchmarks import mmmu as source

    loaded = source.read_parquet(data, image_dir, split, source.parse_subjects(subjects))
    _report_rejected(loaded, "MMMU")
    return loaded


@evaluate_app.command("mmmu")
@user_errors
def evaluate_mmmu(
    model: Model, data: Data, output_dir: OutputDir,
    split: Annotated[str, typer.Option(help="validation or dev (test answers are not public).")] = "validation",
    subjects: Subjects = "science", policy: MMMUPolicy = "random", seed: int = 42,
    batch_size: BatchSize = 16, max_new_tokens: Tokens128 = 128, system_prompt: SystemPrompt = None,
    limit: Limit = None, device: Device = "auto", dtype: Dtype = "auto",
) -> None:
    """MMMU: the LLaVA-1.5 prompt, the official answer parsing, accuracy per subject and discipline."""
    from scitune.evaluate import mmmu

    setup_logging(False)
    _check_policy(policy)
    loaded = _first(_mmmu(data, output_dir / "images", split, subjects), limit)
    _run(mmmu.benchmark(loaded, split, policy, seed), model, output_dir, batch_size, max_new_tokens, system_prompt,
         device=device, dtype=dtype)


@score_app.command("mmmu")
@user_errors
def score_mmmu(data: Data, predictions: Predictions, split: Annotated[str, typer.Option()] = "validation",
               subjects: Subjects = "science", policy: MMMUPolicy = "random", seed: int = 42,
               output_dir: ScoreDir = None) -> None:
    """MMMU accuracy of predictions made elsewhere."""
    from scitune.evaluate import mmmu

    _check_policy(policy)
    _score(mmmu.benchmark(_mmmu(data, None, split, subjects), split, policy, seed), predictions, output_dir)


def _check_policy(policy: str) -> None:
    if policy not in ("random", "wrong"):
        raise ValueError(f"--policy must be random or wrong, not {policy}")


# ------------------------------------------------------------------------------------------ SciFIBench

Splits = Annotated[str | None, typer.Option(
    help="Comma-separated splits, e.g. CS_Figure2Caption,CS_Caption2Figure (default: every file).")]


@evaluate_app.command("scifibench")
@user_errors
def evaluate_scifibench(
    model: Model, data: Data, output_dir: OutputDir, splits: Splits = None,
    extractor: Extractor = "rules", extractor_model: ExtractorModel = None,
    batch_size: BatchSize = 16, max_new_tokens: Tokens256 = 256, system_prompt: SystemPrompt = None,
    limit: Limit = None, device: Device = "auto", dtype: Dtype = "auto",
) -> None:
    """SciFIBench: figure→caption and caption→figure (as one labelled grid), letter accuracy per task."""
    from scitune.evaluate import scifibench
    from scitune.sources.benchmarks import scifibench as source

    setup_logging(False)
    loaded = source.read_parquet(data, output_dir / "images", _splits(splits))
    _report_rejected(loaded, "SciFIBench")
    name = extractor_model.name if extractor_model else model.name
    _run(scifibench.benchmark(_first(loaded, limit), name), model, output_dir, batch_size, max_new_tokens,
         system_prompt, extractor, extractor_model, device=device, dtype=dtype)


@score_app.command("scifibench")
@user_errors
def score_scifibench(data: Data, predictions: Predictions, splits: Splits = None, output_dir: ScoreDir = None) -> None:
    """SciFIBench accuracy of predictions made elsewhere (letters read by the documented rule)."""
    from scitune.evaluate import scifibench
    from scitune.sources.benchmarks import scifibench as source

    _score(scifibench.benchmark(source.read_parquet(data, None, _splits(splits))), predictions, output_dir)


def _splits(text: str | None) -> tuple[str, ...] | None:
    return tuple(s.strip() for s in text.split(",") if s.strip()) if text else None
