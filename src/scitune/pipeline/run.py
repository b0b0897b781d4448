"""`scitune run RECIPE`: the steps of a recipe over one run folder, each redone only when what it
depends on changed.

Steps: corpus (the demo source only) → curate:figures / curate:questions → model:base →
evaluate:base → (train:STAGE → evaluate:STAGE)* → report. A step that finished under the same
fingerprint (see `state.py`) is skipped; one that was interrupted continues (a training stage from
its last Trainer checkpoint, an evaluation from its last written prediction); one made under other
settings is removed with everything after it and run again.
"""

from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path
from typing import Literal

from rich.console import Console

from scitune.config import Recipe, save_recipe
from scitune.pipeline import data, evaluation, training
from scitune.pipeline.report import write_run_report
from scitune.pipeline.state import Plan, Step, recorded

OnChange = Literal["redo", "refuse"]


def _dump(model) -> dict | None:
    return None if model is None else model.model_dump(mode="json")


class Run:
    """The steps of one recipe over one run folder."""

    def __init__(self, recipe: Recipe, console: Console | None = None):
        self.recipe = recipe
        self.dir = Path(recipe.output_dir)
        self.console = console or Console()

    def model_dir(self, name: str) -> Path:
        return self.dir / name / "model"

    def steps(self) -> list[Step]:
        r, run, say = self.recipe, self.dir, self.console
        steps: list[Step] = []
        curated: list[str] = []
        if r.corpus.demo is not None:
            steps.append(Step("corpus", partial(data.render_demo, r, run, say),
                              settings={"corpus.demo": _dump(r.corpus.demo), "seed": r.seed,
                                        "split": {"test_fraction": r.curate.figures.test_fraction,
                                                  "val_fraction": r.curate.figures.val_fraction}},
                              outputs=(data.demo_dir(run),)))
        rendered = ("corpus",) if r.corpus.demo is not None else ()
        if r.corpus.has_figures:
            source = data.figure_source(r, run)
            steps.append(Step("curate:figures", partial(data.curate_figures, r, run, run / "curate" / "figures", say),
                              settings={"source": _dump(source), "curate.figures": _dump(r.curate.figures),
                                        "seed": r.seed, "tokenizer": r.model.tokenizer_name},
                              inputs=() if rendered else (source.path,), after=rendered,
                              outputs=(run / "curate" / "figures",)))
            curated.append("curate:figures")
        if r.corpus.has_problems:
            source = data.problem_source(r, run)
            files = () if rendered else (*source.paths, *([source.splits] if source.splits else []))
            steps.append(Step("curate:questions",
                              partial(data.curate_questions, r, run, run / "curate" / "questions", say),
                              settings={"source": _dump(source), "curate.questions": _dump(r.curate.questions)},
                              inputs=files, after=rendered, outputs=(run / "curate" / "questions",)))
            curated.append("curate:questions")
        steps.append(Step("model:base", partial(training.build_base, r, self.model_dir("base"), say),
                          settings={"model": _dump(r.model), "seed": r.seed}, outputs=(run / "base",)))
        steps.append(self._evaluation("base", "model:base", curated))
        previous, model_step = self.model_dir("base"), "model:base"
        for stage in r.stages:
            uses = tuple(f"curate:{name}" for name in stage.mixture)
            steps.append(Step(f"train:{stage.name}", partial(training.train_stage, r, stage, run, previous, say),
                              settings={"stage": _dump(stage), "seed": r.seed,
                                        "curate.system_prompt": r.curate.system_prompt},
                              after=(model_step, *uses), outputs=(run / stage.name,)))
            model_step, previous = f"train:{stage.name}", self.model_dir(stage.name)
            steps.append(self._evaluation(stage.name, model_step, curated))
        steps.append(Step("report", self._report, settings={"name": r.name},
                          after=tuple(s.name for s in steps if s.name.startswith(("train:", "evaluate:"))),
                          outputs=(run / "report.md", run / "results.json", run / "plots")))
        return steps

    def _evaluation(self, name: str, model_step: str, curated: list[str]) -> Step:
        r = self.recipe
        out = self.dir / "eval" / name
        return Step(f"evaluate:{name}",
                    partial(evaluation.evaluate_checkpoint, r, self.dir, name, self.model_dir(name), out, self.console),
                    settings={"evaluate": _dump(r.evaluate), "curate.system_prompt": r.curate.system_prompt},
                    after=(model_step, *curated), outputs=(out,))

    def _report(self) -> None:
        timings = {step.name: saved["seconds"] for step in self.steps()
                   if (saved := recorded(self.dir, step.name)) and saved.get("done")}
        write_run_report(self.recipe, self.dir, timings)

    # -- running ------------------------------------------------------------------------------
    def plan(self) -> Plan:
        return Plan(self.dir, self.steps())

    def refresh(self, plan: Plan, on_change: OnChange) -> None:
        """Remove the work of every step made under other settings (and say why), or refuse."""
        stale = [(step, reasons) for step in plan.steps if (reasons := plan.changes(step.name))]
        if stale and on_change == "refuse":
            raise ValueError(f"{self.dir} holds work made under other settings: " + "; ".join(
                f"{step.name} ({', '.join(reasons[:3])})" for step, reasons in stale)
                + ". Use another output_dir, or rerun without --on-change refuse to redo those steps")
        for step, reasons in stale:
            shown = ", ".join(reasons[:4]) + (f" and {len(reasons) - 4} more" if len(reasons) > 4 else "")
            self.console.print(f"[yellow]↻ {step.name}[/yellow] will be redone: {shown}")
            plan.forget(step)

    def execute(self, until: str | None = None, on_change: OnChange = "redo") -> Path:
        """Run every step not yet done (up to and including UNTIL); returns the report path."""
        plan = self.plan()
        names = list(plan.fingerprints)
        if until is not None and until not in names:
            raise ValueError(f"no step '{until}' in this recipe; its steps: {', '.join(names)}")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.refresh(plan, on_change)
        save_recipe(self.recipe, self.dir / "recipe.yaml")  # now it describes every artifact beside it
        started = time.perf_counter()
        for step in plan.steps:
            if plan.is_done(step.name):
                self.console.print(f"[dim]✓ {step.name} (done earlier, skipped)[/dim]")
            else:
                self._run_step(plan, step)
            if step.name == until:
                break
        self.console.print(f"This invocation took {time.perf_counter() - started:.1f} s.")
        return self.dir / "report.md"

    def _run_step(self, plan: Plan, step: Step, record: bool = True) -> None:
        self.console.rule(f"[bold]{step.name}")
        if record:
            plan.start(step.name)
        t0 = time.perf_counter()
        step.run()
        seconds = time.perf_counter() - t0
        if record:
            plan.finish(step.name, seconds)
        self.console.print(f"[green]✓ {step.name}[/green] in {seconds:.1f} s")

    def train_only(self, stage_name: str) -> Path:
        """One training stage on its own, as `torchrun`/`accelerate launch` runs it on every process:
        the steps it needs (sources, curation, base model, earlier stages) must be done under the
        current settings; only the main process records the step."""
        plan = self.plan()
        target = f"train:{stage_name}"
        if target not in plan.fingerprints:
            raise ValueError(f"no stage '{stage_name}' in this recipe; stages: "
                             f"{', '.join(s.name for s in self.recipe.stages)}")
        names = list(plan.fingerprints)
        needed = [n for n in names[: names.index(target)] if not n.startswith("evaluate:")]
        missing = [n for n in needed if not plan.is_done(n)]
        if missing:
            raise ValueError(f"{self.dir}: {', '.join(missing)} not done under these settings yet; run `scitune run "
                             f"RECIPE --until {missing[-1]}` first (one process)")
        if plan.changes(target):
            raise ValueError(f"{self.dir}: stage {stage_name} holds work made under other settings "
                             f"({', '.join(plan.changes(target)[:3])}); run `scitune run RECIPE --until "
                             f"{needed[-1]}` first (one process): it clears stale work")
        step = next(s for s in plan.steps if s.name == target)
        self._run_step(plan, step, record=int(os.environ.get("RANK", "0")) == 0)
        return self.model_dir(stage_name)
