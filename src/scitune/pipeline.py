"""`scitune run RECIPE`: corpus → curate → (evaluate, train stage)* → report, resumable by step.

Each step writes its files into the run folder and then a marker with its duration; a rerun skips
steps whose marker exists, so an interrupted run continues from the last finished step (and a
training stage from its last Trainer checkpoint, an evaluation from its last written prediction).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from scitune.config import Recipe, save_recipe
from scitune.contracts import FigureRecord, Instruction, Problem, read_jsonl, write_jsonl
from scitune.curate.figures import figure_instructions
from scitune.curate.scienceqa import problem_instructions
from scitune.evaluate.benchmarks import Generation, evaluate_figures, evaluate_scienceqa
from scitune.evaluate.report import write_report
from scitune.sources.demo import generate_corpus
from scitune.sources.vocabulary import FIGURE_TYPES


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[], None]


class Run:
    """The steps of one recipe over one run folder."""

    def __init__(self, recipe: Recipe, console: Console | None = None):
        self.recipe = recipe
        self.dir = Path(recipe.output_dir)
        self.console = console or Console()

    # -- paths -------------------------------------------------------------------------------
    @property
    def corpus_dir(self) -> Path:
        return self.dir / "corpus"

    @property
    def curate_dir(self) -> Path:
        return self.dir / "curate"

    def model_dir(self, name: str) -> Path:
        return self.dir / name / "model"

    def image_root(self, data: str) -> Path:
        """Where the images of 'figures' or 'questions' live: the run's corpus folder for the demo,
        the configured folders for real corpora (read in place, never copied)."""
        c = self.recipe.corpus
        if c.kind == "demo":
            return self.corpus_dir
        if data == "figures":
            return Path(c.figures.image_root or (c.figures.path if c.figures.path.is_dir() else c.figures.path.parent))
        return Path(c.problem_images or ".")

    def marker(self, step: str) -> Path:
        return self.dir / ".steps" / f"{step.replace(':', '_')}.json"

    # -- steps -------------------------------------------------------------------------------
    def steps(self) -> list[Step]:
        steps = [Step("corpus", self.make_corpus), Step("curate", self.curate), Step("model:base", self.build_base),
                 Step("evaluate:base", lambda: self.evaluate("base"))]
        previous = "base"
        for stage in self.recipe.stages:
            steps.append(Step(f"train:{stage.name}", lambda s=stage, p=previous: self.train(s, p)))
            steps.append(Step(f"evaluate:{stage.name}", lambda s=stage: self.evaluate(s.name)))
            previous = stage.name
        steps.append(Step("report", self.report))
        return steps

    def execute(self, until: str | None = None) -> Path:
        """Run every step not yet done (up to and including UNTIL); returns the report path."""
        names = [step.name for step in self.steps()]
        if until is not None and until not in names:
            raise ValueError(f"no step '{until}' in this recipe; its steps: {', '.join(names)}")
        self.dir.mkdir(parents=True, exist_ok=True)
        save_recipe(self.recipe, self.dir / "recipe.yaml")
        started = time.perf_counter()
        for step in self.steps():
            if self.marker(step.name).is_file():
                self.console.print(f"[dim]✓ {step.name} (done earlier, skipped)[/dim]")
            else:
                self._run_step(step)
            if step.name == until:
                break
        self.console.print(f"This invocation took {time.perf_counter() - started:.1f} s.")
        return self.dir / "report.md"

    def _run_step(self, step: Step, write_marker: bool = True) -> None:
        self.console.rule(f"[bold]{step.name}")
        t0 = time.perf_counter()
        step.run()
        seconds = time.perf_counter() - t0
        if write_marker:
            self.marker(step.name).parent.mkdir(exist_ok=True)
            self.marker(step.name).write_text(json.dumps({"seconds": round(seconds, 2)}))
        self.console.print(f"[green]✓ {step.name}[/green] in {seconds:.1f} s")

    def train_only(self, stage_name: str) -> Path:
        """One training stage on its own, as `torchrun`/`accelerate launch` runs it on every process:
        the steps it needs (corpus, curate, base model, earlier stages) must be done; only the main
        process writes the step marker."""
        names = [step.name for step in self.steps()]
        target = f"train:{stage_name}"
        if target not in names:
            raise ValueError(f"no stage '{stage_name}' in this recipe; stages: "
                             f"{', '.join(s.name for s in self.recipe.stages)}")
        needed = [n for n in names[: names.index(target)] if not n.startswith("evaluate:")]
        missing = [n for n in needed if not self.marker(n).is_file()]
        if missing:
            raise ValueError(f"{self.dir}: {', '.join(missing)} not done yet; run `scitune run RECIPE --until "
                             f"{missing[-1]}` first (one process)")
        step = next(s for s in self.steps() if s.name == target)
        self._run_step(step, write_marker=int(os.environ.get("RANK", "0")) == 0)
        return self.model_dir(stage_name)

    def make_corpus(self) -> None:
        if self.recipe.corpus.kind == "files":
            return self.read_corpora()
        c = self.recipe.corpus
        records, problems = generate_corpus(self.corpus_dir, c.figures_per_type, c.test_fraction, c.image_size,
                                            self.recipe.seed)
        write_jsonl(self.corpus_dir / "figures.jsonl", records)
        write_jsonl(self.corpus_dir / "problems.jsonl", problems)
        self.console.print(f"{len(records)} figures ({len(FIGURE_TYPES)} types), {len(problems)} questions "
                           f"in {self.corpus_dir}")

    def read_corpora(self) -> None:
        """Real corpora: figures through `curate figures` (checks, OCR, split by paper, quality report
        in corpus/figures/), ScienceQA problems of the train and test splits into corpus/problems.jsonl."""
        from transformers import AutoTokenizer

        from scitune.curate.corpus import FigureCuration
        from scitune.model.build import resolve_lm_name
        from scitune.sources.figures import read_figures
        from scitune.sources.scienceqa import iter_split, load_problems, merge, read_split_ids

        c = self.recipe.corpus
        self.corpus_dir.mkdir(parents=True, exist_ok=True)
        if c.figures is not None:
            # Target lengths in tokens of the LM this recipe trains.
            settings = c.figure_curation.model_copy(update={
                "components": self.recipe.curate.components,
                "type_prompts_per_figure": self.recipe.curate.type_prompts_per_figure,
                "tokenizer": self.recipe.model.language_model})
            tokenizer = AutoTokenizer.from_pretrained(resolve_lm_name(settings.tokenizer))
            curation = FigureCuration(settings, self.corpus_dir / "figures", self.image_root("figures"), tokenizer)
            result = curation.run(read_figures(c.figures.format, c.figures.path))
            self.console.print(f"figures: {result['records_in']} in, {result['records_kept']} kept, "
                               f"{result['records_rejected']} rejected (corpus/figures/quality.md)")
        problems: list[Problem] = []
        if c.problems:
            problem_set = merge([load_problems(path) for path in c.problems])
            for split in (c.train_split, c.test_split):
                if c.problem_splits:
                    chosen = problem_set.restrict(read_split_ids(c.problem_splits, split)).problems.values()
                else:
                    chosen = iter_split(problem_set, split)
                problems += [p.model_copy(update={"split": "train" if split == c.train_split else "test"})
                             for p in chosen]
            self.console.print(f"problems: {sum(p.split == 'train' for p in problems)} train, "
                               f"{sum(p.split == 'test' for p in problems)} test; {len(problem_set.rejected)} rejected")
        write_jsonl(self.corpus_dir / "problems.jsonl", problems)

    def curate(self) -> None:
        if self.recipe.corpus.kind == "files":
            return self.curate_files()
        records = list(read_jsonl(self.corpus_dir / "figures.jsonl", FigureRecord))
        problems = list(read_jsonl(self.corpus_dir / "problems.jsonl", Problem))
        test_records = {p.pid.rsplit("-", 1)[0] for p in problems if p.split == "test"}
        c = self.recipe.curate
        for split in ("train", "test"):
            chosen = [r for r in records if (r.id in test_records) == (split == "test")]
            figures = list(figure_instructions(chosen, c.components, list(FIGURE_TYPES), self.recipe.seed,
                                               c.type_prompts_per_figure if split == "train" else 1))
            write_jsonl(self.curate_dir / f"figures_{split}.jsonl", figures)
            questions = problem_instructions([p for p in problems if p.split == split], c.question_format)
            count = write_jsonl(self.curate_dir / f"questions_{split}.jsonl", questions)
            self.console.print(f"{split}: {len(figures)} figure instructions, {count} question instructions")
        save_recipe(self.recipe, self.curate_dir / "recipe.yaml")

    def curate_files(self) -> None:
        c = self.recipe.curate
        figures = self.corpus_dir / "figures"
        problems = list(read_jsonl(self.corpus_dir / "problems.jsonl", Problem))
        for split in ("train", "test"):
            source = figures / f"{split}.jsonl"
            items = list(read_jsonl(source, Instruction)) if source.is_file() else []
            if split == "test":  # what the figure benchmark scores: the description and one type question
                items = [i for i in items if i.source.get("task") == "describe"
                         or (i.source.get("task") == "figure_type" and i.id.endswith("-type"))]
            write_jsonl(self.curate_dir / f"figures_{split}.jsonl", items)
            questions = problem_instructions([p for p in problems if p.split == split], c.question_format)
            count = write_jsonl(self.curate_dir / f"questions_{split}.jsonl", questions)
            self.console.print(f"{split}: {len(items)} figure instructions, {count} question instructions")
        save_recipe(self.recipe, self.curate_dir / "recipe.yaml")

    def figure_labels(self) -> list[str]:
        if self.recipe.corpus.kind == "demo":
            return list(FIGURE_TYPES)
        labels = {i.conversations[-1].value for name in ("figures_train.jsonl", "figures_test.jsonl")
                  for i in read_jsonl(self.curate_dir / name, Instruction) if i.source.get("task") == "figure_type"}
        return sorted(labels)

    def build_base(self) -> None:
        from scitune.model.build import build_llava

        model, processor = build_llava(self.recipe.model, seed=self.recipe.seed)
        target = self.model_dir("base")
        model.save_pretrained(target)
        processor.save_pretrained(target)
        save_recipe(self.recipe, target / "recipe.yaml")

    def train(self, stage, previous: str) -> None:
        from scitune.model.build import load_llava
        from scitune.train.lora import check_qlora
        from scitune.train.stage import run_stage

        check_qlora(stage)
        self.check_same_model()
        model, processor = load_llava(self.model_dir(previous), quantize_4bit=stage.qlora)
        data = self.curate_dir / ("figures_train.jsonl" if stage.data == "figures" else "questions_train.jsonl")
        run_stage(self.recipe, stage, model, processor, data, self.image_root(stage.data), self.dir / stage.name,
                  base_dir=self.model_dir(previous))
        # intermediate Trainer checkpoints (optimizer state) are only for resuming this stage
        if int(os.environ.get("RANK", "0")) == 0:
            shutil.rmtree(self.dir / stage.name / "trainer", ignore_errors=True)

    def check_same_model(self) -> None:
        """A run folder continued with another model section would train the old architecture."""
        import yaml

        saved = self.model_dir("base") / "recipe.yaml"
        if not saved.is_file():
            return
        before = yaml.safe_load(saved.read_text()).get("model")
        now = self.recipe.model.model_dump(mode="json")
        if before != now:
            changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
            raise ValueError(f"{self.dir} was built with another model ({', '.join(changed)} differ); "
                             "use a new output_dir for this recipe")

    def evaluate(self, name: str) -> None:
        """The figure benchmark and the questions benchmark, through the same code as `scitune evaluate`."""
        from scitune.model.build import load_llava

        model, processor = load_llava(self.model_dir(name))
        out = self.dir / "eval" / name
        e = self.recipe.evaluate
        figures = list(read_jsonl(self.curate_dir / "figures_test.jsonl", Instruction))[: e.limit]
        question_ids = {i.id for i in read_jsonl(self.curate_dir / "questions_test.jsonl", Instruction)}
        problems = [p for p in read_jsonl(self.corpus_dir / "problems.jsonl", Problem) if p.pid in question_ids]
        problems = problems[: e.limit]
        model_name = f"{self.recipe.name}/{name}"
        with self._progress(f"{name} · figures", len(figures)) as advance:
            gen = Generation(e.batch_size, e.max_new_tokens_figures, self.recipe.curate.system_prompt,
                             model_name=model_name, on_batch=advance)
            figure_scores = evaluate_figures(model, processor, figures, self.image_root("figures"), out / "figures",
                                             self.figure_labels(), gen)
        with self._progress(f"{name} · questions", len(problems)) as advance:
            gen = Generation(e.batch_size, e.max_new_tokens_questions, self.recipe.curate.system_prompt,
                             model_name=model_name, on_batch=advance)
            question_scores = evaluate_scienceqa(model, processor, problems, self.image_root("questions"),
                                                 out / "questions", self.recipe.curate.question_format, gen)
        scores = {**figure_scores, "questions": question_scores}
        (out / "scores.json").write_text(json.dumps(scores, indent=2))
        save_recipe(self.recipe, out / "recipe.yaml")
        self.console.print(f"figure-type accuracy {scores['figure_types']['accuracy']}% "
                           f"(chance {scores['figure_types']['chance']}%), caption BLEU-4 "
                           f"{scores['captions']['bleu4']}, question accuracy "
                           f"{scores['questions']['accuracy']['Avg']}%")

    @contextmanager
    def _progress(self, label: str, total: int):
        with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=self.console) as bar:
            task = bar.add_task(label, total=total)
            yield lambda n: bar.advance(task, n)

    def report(self) -> None:
        names = ["base", *(s.name for s in self.recipe.stages)]
        evaluations = {n: json.loads((self.dir / "eval" / n / "scores.json").read_text()) for n in names}
        histories = {s.name: json.loads((self.dir / s.name / "log_history.json").read_text())
                     for s in self.recipe.stages}
        timings = {}
        for step in self.steps():
            if self.marker(step.name).is_file():
                timings[step.name] = json.loads(self.marker(step.name).read_text())["seconds"]
        notes = [
            f"Recipe `{self.recipe.name}`, seed {self.recipe.seed}, language model "
            f"`{self.recipe.model.language_model}`, vision tower "
            f"{self.recipe.model.vision.pretrained or 'random ' + self.recipe.model.vision.model_type}.",
            ("The corpus of this run is generated by SciTune's demo renderer (templated text, not human-written);"
             " it checks the pipeline, not scientific ability." if self.recipe.corpus.kind == "demo" else
             f"Corpora: figures from `{self.recipe.corpus.figures.path if self.recipe.corpus.figures else '-'}` "
             f"(quality report: corpus/figures/quality.md), ScienceQA from "
             f"{', '.join(f'`{p}`' for p in self.recipe.corpus.problems) or '-'} "
             f"({self.recipe.corpus.train_split} → {self.recipe.corpus.test_split})."),
            "Figure type is scored by exact match of the label on the classification prompt that stage 1 trains;"
            " stage 2 trains only on questions in the QCM→LEPA format, so afterwards the model answers every prompt"
            " in that format and the exact-match figure-type score falls. After stage 2, figure understanding shows"
            " in the IMG column (questions with an image, including 'which type of figure is shown?').",
        ]
        write_report(self.dir, f"SciTune run: {self.recipe.name}", evaluations, histories, timings, notes)
