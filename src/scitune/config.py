"""Typed, documented recipe configs, loaded from YAML with dotted command-line overrides.

A recipe describes one experiment end to end: the corpus, curation, model, training stages and
evaluation. Every field is validated when the recipe is loaded, so a typo or an impossible value
fails before any work starts, naming the field. The resolved recipe is saved beside each output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from scitune.contracts import parse_format
from scitune.figure_types import KNOWN_FIGURE_TYPES, normalize_figure_type
from scitune.presets import PRESETS

ModuleName = Literal["vision_tower", "multi_modal_projector", "language_model"]
DataSet = Literal["figures", "questions"]
MODULES: tuple[str, ...] = ("vision_tower", "multi_modal_projector", "language_model")


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)


def check_components(value: str) -> str:
    if not value or set(value) - set("CTOM") or len(set(value)) != len(value):
        raise ValueError(f"'{value}' must be distinct letters from C, T, O, M (e.g. CTOM, CT, C)")
    return value


class FigureCurationConfig(_Config):
    """How FigureRecords from any corpus become instructions (`curate.figures` in a recipe, the
    settings of `scitune curate figures`). Target lengths are counted in the tokens of the LM being
    trained, and prompt templates are drawn from the recipe's seed."""

    components: str = "CTOM"
    """Parts of the description target: T figure type, C caption, O OCR text, M mentions (e.g. CTOM, CT, C)."""
    tasks: list[Literal["describe", "figure_type", "caption", "read_text"]] = ["describe", "figure_type"]
    """Instructions per figure: the CTOM description, type classification, caption only, the text inside."""
    type_prompts_per_figure: int = Field(1, ge=1, le=3)
    """Classification instructions per training figure, each with another prompt template (held-out
    figures get one, so each is scored once)."""
    max_target_tokens: int = Field(384, ge=8)
    """Longest target; longer ones are cut at a sentence boundary (the record is rejected if even the
    first sentence is longer)."""
    test_fraction: float = Field(0.1, ge=0, lt=1)
    """Share of papers (not figures) in the test split; a paper's figures all land on one side."""
    val_fraction: float = Field(0.0, ge=0, lt=1)
    """Share of papers in the validation split."""
    image_check: Literal["none", "header", "decode"] = "decode"
    """none: trust paths; header: exists, is an image, within max_pixels; decode: also decode every pixel."""
    max_pixels: int = Field(89_478_485, ge=1)
    """Images with more pixels are rejected as possible decompression bombs (Pillow's default limit)."""
    ocr: Literal["figure", "rapidocr", "tesseract", "none"] = "figure"
    """Engine that reads the text of figures whose record has no OCR: 'figure' (RapidOCR's models,
    installed by pip, read as figures are laid out), 'rapidocr' (that library's own pipeline),
    'tesseract' (needs the Debian package tesseract-ocr), 'none' (leave them without)."""
    dedupe: bool = True
    """Reject a second figure with the same image bytes, or the same caption on the same paper."""
    figure_types: list[str] = list(KNOWN_FIGURE_TYPES)
    """The labels the type question offers (and the figure benchmark scores over; chance is one over
    their number). Corpus spellings are normalised ('Graph Plot' → 'graph plot')."""
    unknown_types: Literal["reject", "drop"] = "reject"
    """A figure type outside `figure_types`: reject the record, or keep it with the type unknown."""

    @field_validator("components")
    @classmethod
    def _known_components(cls, value: str) -> str:
        return check_components(value)

    @field_validator("figure_types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        labels = [normalize_figure_type(label) for label in value]
        if not labels or len(set(labels)) != len(labels):
            raise ValueError(f"figure_types must be distinct known types, got {value}")
        return labels

    @model_validator(mode="after")
    def _fractions(self) -> FigureCurationConfig:
        if self.test_fraction + self.val_fraction >= 1:
            raise ValueError("test_fraction + val_fraction must leave papers for training")
        return self


FIGURE_FORMATS = ("auto", "scicap-challenge", "scicap", "vistext", "arxivcap", "folder", "records")


class FigureSourceConfig(_Config):
    """A figure corpus on disk (see `scitune curate figures`)."""

    path: Path
    """The corpus file or folder."""
    format: Literal["auto", "scicap-challenge", "scicap", "vistext", "arxivcap", "folder", "records"] = "auto"
    """Its format; auto tells them apart by layout and first bytes."""
    image_root: Path | None = None
    """Folder the records' image paths are relative to (default: the corpus folder; ArxivCap, whose
    images live inside its shards: the folder curation writes them to)."""


class ProblemSourceConfig(_Config):
    """ScienceQA problems on disk, in any release (read by `scitune.sources.scienceqa`)."""

    paths: list[Path] = Field(min_length=1)
    """problems.json (official), the parquet release (file or folder) or LLaVA's llava_{split}_*.json; combined."""
    splits: Path | None = None
    """pid_splits.json; without it each problem's own `split` field decides."""
    images: Path | None = None
    """Folder the problems' image paths are relative to (the official release: `{pid}/image.png` under it)."""


class DemoConfig(_Config):
    """The demo source: figures and questions rendered offline (templated text, NOT human-written)."""

    figures_per_type: int = Field(30, ge=2)
    """Figures rendered per figure type (six types)."""
    image_size: int = Field(160, ge=32, le=1024)
    """Side of the rendered PNGs in pixels (the processor resizes to the tower's input)."""


class CorpusConfig(_Config):
    """Where the records come from: the demo renderer, or figure and/or ScienceQA corpora on disk.
    Every source then goes through the same curation."""

    demo: DemoConfig | None = None
    """Render the demo corpus into the run folder (figures and the questions about them)."""
    figures: FigureSourceConfig | None = None
    """A figure corpus (stage-1 data)."""
    problems: ProblemSourceConfig | None = None
    """ScienceQA problems (stage-2 data)."""

    @model_validator(mode="after")
    def _one_kind_of_source(self) -> CorpusConfig:
        if self.demo is not None and (self.figures is not None or self.problems is not None):
            raise ValueError("choose the demo source or corpora on disk (figures, problems), not both")
        if self.demo is None and self.figures is None and self.problems is None:
            raise ValueError("no source: set demo, or figures and/or problems")
        return self

    @property
    def has_figures(self) -> bool:
        return self.demo is not None or self.figures is not None

    @property
    def has_problems(self) -> bool:
        return self.demo is not None or self.problems is not None


def check_question_format(value: str) -> str:
    parse_format(value)
    return value


class QuestionCurationConfig(_Config):
    """How ScienceQA problems become instructions (`curate.questions`)."""

    format: str = "QCM-LEPA"
    """Prompt format INPUT-OUTPUT of the ScienceQA paper, e.g. QCM-LEPA (SciTune/LLaVA), QCM-A, CQM-A."""
    train_split: str = "train"
    """Split trained on (an official split name, e.g. train or trainval; or each problem's own split)."""
    val_split: str | None = None
    """Split for choosing between runs (e.g. val or minival); never used for the reported test score."""
    test_split: str = "test"
    """Split evaluated (minitest for quick looks)."""
    missing_images: Literal["reject", "text_only"] = "reject"
    """An image question whose image file is not under the image root (an incomplete copy of the
    release): 'reject' quarantines it (kind missing_image, in rejected.jsonl, counted per split in the
    manifest); 'text_only' keeps it in the TRAINING split as a text-only question (no `<image>`, no
    path; counted, and named in each instruction's source). Held-out splits always reject: a question
    asked without its image is not the benchmark's question. A path outside the root is always rejected."""

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        return check_question_format(value)


class CurateConfig(_Config):
    figures: FigureCurationConfig = FigureCurationConfig()
    """Figure records → CTOM descriptions and figure-type questions."""
    questions: QuestionCurationConfig = QuestionCurationConfig()
    """ScienceQA problems → questions in one prompt format."""
    system_prompt: str = ""
    """System message before every conversation, at training and inference alike ('' for none)."""


class ServeConfig(_Config):
    """Limits and batching of `scitune serve`; every limit is answered with a 4xx and its reason."""

    host: str = "127.0.0.1"
    """Interface to bind; anything other than localhost must be asked for."""
    port: int = Field(8000, ge=0, le=65535)
    """TCP port (0: any free port)."""
    max_batch: int = Field(16, ge=1)
    """Requests decoded together (continuous batching: rows of the running batch)."""
    max_queue: int = Field(64, ge=0)
    """Requests that may wait for a place in the batch; beyond `max_batch + max_queue` requests in
    flight (being read, waiting or decoding) a request is answered 429 with Retry-After, before its
    body is read: memory stays bounded under any load."""
    batching: Literal["continuous", "static"] = "continuous"
    """'continuous': finished rows leave the batch and waiting requests join it between decoding
    steps; 'static': a batch runs until its longest row is done (the baseline; also what a model
    the step-wise decoder cannot reproduce exactly is served with, whatever is asked here)."""
    batch_wait_ms: float = Field(10.0, ge=0)
    """Static batching: how long the first request of a batch waits for others to join it."""
    max_body_bytes: int = Field(20_000_000, ge=1024)
    """Largest request body."""
    max_image_bytes: int = Field(10_000_000, ge=1024)
    """Largest decoded image file."""
    max_image_pixels: int = Field(40_000_000, ge=1)
    """Largest image in pixels (width × height), checked before decoding."""
    max_images: int = Field(1, ge=0)
    """Images per request (a Llava checkpoint answers about one image per conversation)."""
    max_tokens: int = Field(512, ge=1)
    """Largest `max_tokens` a request may ask for."""
    default_max_tokens: int = Field(256, ge=1)
    """New tokens when a request does not say."""
    allowed_image_dir: Path | None = None
    """Folder whose files may be sent as file:// image URLs (none: file URLs are refused)."""
    system_prompt: str = ""
    """System message of requests that bring none (`scitune serve` sets the one the checkpoint was
    trained with); a request whose messages start with system (or developer) messages uses those
    instead. The web UI always uses this one."""


class VisionConfig(_Config):
    pretrained: str | None = None
    """Hub id or folder of a pretrained encoder (e.g. openai/clip-vit-large-patch14); None: random."""
    model_type: Literal["siglip_vision_model", "clip_vision_model"] = "siglip_vision_model"
    """Architecture of a random tower (ignored when `pretrained` is set)."""
    image_size: int = Field(64, ge=16)
    """Input side in pixels of a random tower."""
    patch_size: int = Field(16, ge=2)
    """Patch side in pixels; image tokens = (image_size / patch_size)²."""
    hidden_size: int = Field(128, ge=8)
    """Width of a random tower."""
    num_hidden_layers: int = Field(2, ge=1)
    """Depth of a random tower."""
    num_attention_heads: int = Field(4, ge=1)
    """Attention heads of a random tower."""

    @model_validator(mode="after")
    def _divisible(self) -> VisionConfig:
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by num_attention_heads")
        return self


class ModelConfig(_Config):
    pretrained: str | None = None
    """A released vision-language model to continue instead of assembling one: a hub id or a folder
    (e.g. Qwen/Qwen2.5-VL-3B-Instruct, HuggingFaceTB/SmolVLM-Instruct, llava-hf/llava-1.5-7b-hf), of
    a family SciTune maps onto its three trainable parts (src/scitune/model/families.py). It keeps
    its own processor and chat template; the assembly fields below must then stay unset."""
    preset: str | None = None
    """A named pairing (src/scitune/model/presets.py): scitune-llama2-13b, scitune-llama2-7b,
    llava-1.5-7b, small-modern. It fills language_model, vision.pretrained and the feature layer and
    strategy and the chat template; fields given explicitly beside it win."""
    language_model: str = "embedded:smollm2-135m-instruct"
    """Causal LM: a local folder, a hub id, 'embedded:smollm2-135m-instruct' or 'tiny' (random, tests)."""
    tiny_lm_hidden_size: int = Field(64, ge=8)
    """Width of the 'tiny' random LM."""
    vision: VisionConfig = VisionConfig()
    """The vision tower."""
    vision_feature_layer: int = -1
    """Hidden layer of the tower fed to the projector (the paper uses -2 with CLIP ViT-L/14)."""
    vision_feature_select_strategy: Literal["default", "full"] = "full"
    """'default' drops the CLS token (CLIP); 'full' keeps every token (SigLIP has no CLS)."""
    chat_template: Literal["auto", "vicuna_v1", "llama_2"] = "auto"
    """Conversation template (src/scitune/model/chat.py): 'auto' uses the LM tokenizer's own chat
    template, or LLaVA's vicuna_v1 when it has none; 'vicuna_v1' (`USER: … ASSISTANT: …</s>`) and
    'llama_2' (`[INST] … [/INST] … </s>`) are the templates LLaVA trained base LMs with: the EOS ends
    every answer and is supervised, so the model learns to stop. The checkpoint carries the choice."""

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data):
        if not isinstance(data, dict) or not data.get("preset"):
            return data
        name = data["preset"]
        if name not in PRESETS:
            raise ValueError(f"unknown preset '{name}'; choose one of {', '.join(PRESETS)}")
        preset = PRESETS[name]
        merged = {"language_model": preset.language_model, "vision_feature_layer": preset.vision_feature_layer,
                  "vision_feature_select_strategy": preset.vision_feature_select_strategy,
                  "chat_template": preset.chat_template}
        merged.update({k: v for k, v in data.items() if k != "vision"})
        merged["vision"] = {"pretrained": preset.vision, **(data.get("vision") or {})}
        return merged

    @model_validator(mode="after")
    def _pretrained_alone(self) -> ModelConfig:
        if self.pretrained:
            assembly = sorted(self.model_fields_set - {"pretrained"})
            if assembly:
                raise ValueError(f"model.pretrained loads a released model whole; {', '.join(assembly)} would be "
                                 "ignored: remove them")
        return self

    @property
    def tokenizer_name(self) -> str:
        """Whose tokenizer counts curated target lengths: the released model's, else the LM's."""
        return self.pretrained or self.language_model


class LoraConfig(_Config):
    r: int = Field(16, ge=1)
    """Rank of the adapters."""
    alpha: int = Field(32, ge=1)
    """Scaling numerator (the update is scaled by alpha / r)."""
    dropout: float = Field(0.05, ge=0, lt=1)
    """Dropout on the adapter input."""
    target_modules: list[str] = ["q_proj", "k_proj", "v_proj", "o_proj", "out_proj", "gate_proj", "up_proj",
                                 "down_proj", "fc1", "fc2", "linear_1", "linear_2"]
    """Names of the linear layers that get adapters, inside the modules set to 'lora'."""


class StageConfig(_Config):
    name: str
    """Name of the stage; its checkpoint is written to OUTPUT_DIR/NAME."""
    data: DataSet | dict[DataSet, float]
    """The curated instructions the stage trains on: 'figures', 'questions', or a mixture with
    weights, e.g. {questions: 1.0, figures: 0.3}: per epoch, weight × size samples of each set
    (a fresh draw from the seed each epoch; 1.0 all of it, 0.3 a 30% subset, 2.0 twice)."""
    train: dict[ModuleName, Literal["frozen", "full", "lora"]]
    """Per module of the Llava model: frozen, fully trained, or LoRA adapters (peft) on its linear layers."""
    lora: LoraConfig = LoraConfig()
    """LoRA settings for the modules set to 'lora'."""
    qlora: bool = False
    """Load the frozen base in 4 bits under the LoRA adapters (QLoRA; needs a CUDA GPU and bitsandbytes)."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less memory, about a third more compute."""
    packing: bool = False
    """Pack the samples of each optimizer step into rows of up to max_length tokens, with position ids
    restarting per sample and a block-diagonal attention mask (no attention across samples): only the
    ends of rows are padding. A step still counts samples, not rows (see samples_per_step)."""
    report_to: list[str] = ["tensorboard"]
    """Trainer loggers (tensorboard, wandb, mlflow…; [] for none); logs go to OUTPUT_DIR/NAME/logs."""
    learning_rate: float = Field(gt=0)
    """Peak learning rate."""
    module_learning_rates: dict[ModuleName, float] = {}
    """Optional learning rate per module, overriding `learning_rate`."""
    epochs: float = Field(1.0, gt=0)
    """Passes over the stage's data."""
    batch_size: int = Field(8, ge=1)
    """Samples per process per micro-batch (with packing, on average: a step's samples are packed
    into rows and the rows dealt to its micro-batches)."""
    gradient_accumulation_steps: int = Field(1, ge=1)
    """Micro-batches accumulated per optimizer update (derived from samples_per_step when that is set)."""
    samples_per_step: int | None = Field(None, ge=1)
    """Samples per optimizer step over all processes: the global batch (the paper's 128). When set,
    gradient_accumulation_steps = samples_per_step / (batch_size × processes), which must divide
    evenly, so the same recipe keeps its batch on 1 or 8 GPUs; unset, a step is batch_size ×
    gradient_accumulation_steps × processes samples. Packing does not change it (src/scitune/train/steps.py)."""
    lr_scheduler_type: Literal["cosine", "linear", "constant", "constant_with_warmup"] = "cosine"
    """Learning-rate schedule."""
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    """Share of steps spent warming up (the paper uses 3%)."""
    weight_decay: float = Field(0.0, ge=0)
    """AdamW weight decay."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """Mixed precision of the forward/backward (weights stay fp32). auto: bf16 where the GPU or the
    CPU (AVX512-BF16/AMX) computes it natively, else fp32."""
    group_by_length: bool = True
    """Batch samples of similar length together (less padding, same data per epoch)."""
    max_length: int = Field(512, ge=16)
    """Samples longer than this many tokens are rejected with a message (never cut silently)."""
    save_steps: int = Field(50, ge=1)
    """Write a resumable checkpoint every this many optimizer steps."""
    save_total_limit: int = Field(1, ge=1)
    """How many intermediate checkpoints to keep."""
    logging_steps: int = Field(5, ge=1)
    """Log loss and learning rate every this many steps."""

    @field_validator("data")
    @classmethod
    def _positive_weights(cls, data):
        if isinstance(data, dict):
            if not data or any(weight <= 0 for weight in data.values()):
                raise ValueError(f"mixture weights must be positive, got {data}")
        return data

    @property
    def mixture(self) -> dict[str, float]:
        """The stage's data as {set: weight}."""
        return {self.data: 1.0} if isinstance(self.data, str) else dict(self.data)

    @model_validator(mode="after")
    def _trains_something(self) -> StageConfig:
        missing = [m for m in MODULES if m not in self.train]
        if missing:
            raise ValueError(f"stage '{self.name}': train must set {', '.join(missing)} (frozen, full or lora)")
        if all(mode == "frozen" for mode in self.train.values()):
            raise ValueError(f"stage '{self.name}' trains nothing: every module is frozen")
        frozen_with_lr = [m for m in self.module_learning_rates if self.train[m] == "frozen"]
        if frozen_with_lr:
            raise ValueError(f"stage '{self.name}': learning rate given for frozen {frozen_with_lr}")
        if self.qlora and "lora" not in self.train.values():
            raise ValueError(f"stage '{self.name}': qlora needs at least one module set to lora")
        if self.samples_per_step is not None:
            if self.gradient_accumulation_steps != 1:  # 1, the default, is what a resolved recipe repeats
                raise ValueError(f"stage '{self.name}': set samples_per_step or gradient_accumulation_steps, not both "
                                 "(samples_per_step decides the accumulation)")
            if self.samples_per_step % self.batch_size:
                raise ValueError(f"stage '{self.name}': samples_per_step {self.samples_per_step} is not a multiple of "
                                 f"batch_size {self.batch_size}")
        return self


class EvaluateConfig(_Config):
    batch_size: int = Field(16, ge=1)
    """Prompts per generation batch (in fp32 the answers do not depend on it; see `dtype`)."""
    dtype: Literal["auto", "as_trained", "float32", "bfloat16", "float16"] = "auto"
    """Precision of generation. auto: the rule of `scitune predict` (a GPU's bf16 or fp16; fp32 on a
    CPU, where greedy answers are then the same at any batch size). as_trained: the precision the
    last stage trains in (bf16 where the GPU or CPU computes it natively, else fp32): ~1.8x faster
    generation than fp32 on a CPU with AVX512-BF16/AMX; answers then depend on batch_size, which the
    recipe fixes, so a rerun gives the same answers."""
    max_new_tokens_figures: int = Field(48, ge=1)
    """Tokens generated per figure description; a type question gets only its longest label's tokens + 4."""
    max_new_tokens_questions: int = Field(96, ge=1)
    """Tokens generated for multiple-choice questions (LEPA writes lecture and solution first)."""
    limit: int | None = Field(None, ge=1)
    """Evaluate only the first N items of each set (quick looks)."""


class Recipe(_Config):
    name: str
    """Name of the experiment."""
    output_dir: Path
    """Folder for every artifact of the run; a rerun continues from the last finished step."""
    seed: int = 0
    """Seed for corpus generation, prompt sampling, initialisation and data order."""
    corpus: CorpusConfig
    """The sources of the run's records."""
    curate: CurateConfig = CurateConfig()
    """How records become instructions."""
    model: ModelConfig = ModelConfig()
    """The Llava model assembled before the first stage."""
    stages: list[StageConfig]
    """Training stages, run in order, each starting from the previous stage's checkpoint."""
    evaluate: EvaluateConfig = EvaluateConfig()
    """How every checkpoint is evaluated."""

    @model_validator(mode="after")
    def _data_for_every_stage(self) -> Recipe:
        for stage in self.stages:
            if "figures" in stage.mixture and not self.corpus.has_figures:
                raise ValueError(f"stage '{stage.name}' trains on figures but the corpus has none (corpus.figures)")
            if "questions" in stage.mixture and not self.corpus.has_problems:
                raise ValueError(f"stage '{stage.name}' trains on questions but the corpus has none "
                                 "(corpus.problems)")
        return self

    @field_validator("stages")
    @classmethod
    def _unique_names(cls, stages: list[StageConfig]) -> list[StageConfig]:
        names = [s.name for s in stages]
        if len(set(names)) != len(names) or "base" in names:
            raise ValueError(f"stage names must be unique and not 'base': {names}")
        return stages


ConfigT = TypeVar("ConfigT", bound=BaseModel)


class RecipeError(ValueError):
    """A recipe that cannot run: the message names the file and the field."""


def apply_override(data: dict, override: str) -> None:
    """Set `a.b.0.c=value` in nested YAML data; the value is parsed as YAML (numbers, lists…)."""
    if "=" not in override:
        raise RecipeError(f"override '{override}' is not of the form key.path=value")
    dotted, raw = override.split("=", 1)
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        if isinstance(node, list):
            node = node[int(key)]
        else:
            node = node.setdefault(key, {})
    last = keys[-1]
    value = yaml.safe_load(raw)
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def apply_overrides(model: type[ConfigT], data: dict, overrides: list[str], where: str = "settings") -> ConfigT:
    """Validate DATA with OVERRIDES applied as MODEL; errors name WHERE and the offending field."""
    for override in overrides:
        try:
            apply_override(data, override)
        except (IndexError, ValueError, TypeError) as error:
            raise RecipeError(f"{where}: cannot apply override '{override}': {error}") from None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in error.errors()
        )
        raise RecipeError(f"{where}: {problems}") from None


def load_recipe(path: Path, overrides: list[str] = ()) -> Recipe:
    """Read, override and validate a recipe; errors name the file and the offending field."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise RecipeError(f"recipe {path} is not valid YAML: {error}") from None
    return apply_overrides(Recipe, data, overrides, where=f"recipe {path}")


def save_recipe(recipe: Recipe, path: Path) -> None:
    """Write the resolved recipe (defaults filled in) as YAML beside an output."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False), encoding="utf-8")


def shipped_recipe(name: str) -> Path:
    """Path of a recipe shipped with SciTune (source checkout or installed package)."""
    checkout = Path(__file__).resolve().parents[2] / "recipes" / f"{name}.yaml"
    if checkout.is_file():
        return checkout
    from importlib.resources import files

    return Path(str(files("scitune") / "recipes" / f"{name}.yaml"))
