"""The vision-language model families SciTune trains, and where each keeps its three parts.

Freezing, per-module learning rates and LoRA speak of three roles — `vision_tower`,
`multi_modal_projector`, `language_model` (the Llava names) — and every family below says, in a
small explicit table, which of its modules plays which role. A model whose family is not listed is
refused with a message saying how to add it: guessing from module names would silently train the
wrong parameters.

Plain data and small functions only; loading lives in `pretrained.py`, encoding in `template.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

VISION, PROJECTOR, LANGUAGE = "vision_tower", "multi_modal_projector", "language_model"
ROLES = (VISION, PROJECTOR, LANGUAGE)


@dataclass(frozen=True)
class Family:
    """One transformers model family (a `model_type`) as SciTune sees it."""

    model_type: str
    """`config.model_type` of the checkpoints of this family."""
    parts: tuple[tuple[str, str], ...]
    """(module path, role), most specific path first: a parameter belongs to the role of the first
    path found among its dotted name's components (so Qwen2-VL's `visual.merger` is the projector
    although it sits inside `visual`, the vision tower)."""
    saved_modules: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Per role, the modules peft saves whole (`modules_to_save`) when LoRA runs and the role trains
    fully; by default the role's paths."""
    packing: str = "block"
    """How samples pack into one row exactly: 'block' (block-diagonal causal mask + positions that
    restart per sample), 'mrope' (the same mask + each sample's own 3-D rope positions, Qwen2-VL),
    or anything else: the reason packing is refused."""
    video_processor: bool = False
    """The family's processor also takes a video processor (which transformers builds only with
    torchvision); without torchvision SciTune builds the processor for images alone."""
    examples: str = ""
    """Released checkpoints of the family (for messages and docs)."""

    def role_of(self, parameter_name: str) -> str:
        """'model.visual.merger.mlp.0.weight' → 'multi_modal_projector', also under peft's wrappers."""
        dotted = f".{parameter_name}."
        for path, role in self.parts:
            if f".{path}." in dotted:
                return role
        raise ValueError(f"parameter {parameter_name} of a {self.model_type} model belongs to none of its parts "
                         f"{[path for path, _ in self.parts]}; extend the '{self.model_type}' entry in "
                         "scitune/model/families.py")

    def modules_to_save(self, role: str) -> tuple[str, ...]:
        return self.saved_modules.get(role) or tuple(path for path, r in self.parts if r == role)

    @property
    def packs_exactly(self) -> bool:
        return self.packing in ("block", "mrope")


_LLAVA = ((VISION, VISION), (PROJECTOR, PROJECTOR), (LANGUAGE, LANGUAGE), ("lm_head", LANGUAGE))
_IDEFICS = (("vision_model", VISION), ("connector", PROJECTOR), ("text_model", LANGUAGE), ("lm_head", LANGUAGE))
_QWEN = (("visual.merger", PROJECTOR), ("visual", VISION), (LANGUAGE, LANGUAGE), ("lm_head", LANGUAGE))
# Qwen's merger sits inside `visual`: saving `visual` whole would also save (and train) the merger.
_QWEN_SAVED = {VISION: ("visual.patch_embed", "visual.blocks")}
_GEMMA_PACKING = ("image tokens attend to each other in both directions and local layers use a sliding window; "
                  "a block-diagonal causal mask expresses neither")

FAMILIES: dict[str, Family] = {f.model_type: f for f in (
    Family("llava", _LLAVA, examples="llava-hf/llava-1.5-7b-hf, SciTune's own checkpoints"),
    # image_newline (a parameter, not a module) is the learned row separator the projector's output gets.
    Family("llava_next", _LLAVA[:2] + (("image_newline", PROJECTOR),) + _LLAVA[2:],
           saved_modules={PROJECTOR: (PROJECTOR,)}, examples="llava-hf/llava-v1.6-vicuna-7b-hf"),
    Family("qwen2_vl", _QWEN, saved_modules=_QWEN_SAVED, packing="mrope", video_processor=True,
           examples="Qwen/Qwen2-VL-2B-Instruct"),
    Family("qwen2_5_vl", _QWEN, saved_modules=_QWEN_SAVED, packing="mrope", video_processor=True,
           examples="Qwen/Qwen2.5-VL-3B-Instruct"),
    Family("idefics3", _IDEFICS, examples="HuggingFaceTB/SmolVLM-Instruct, HuggingFaceM4/Idefics3-8B-Llama3"),
    Family("gemma3", _LLAVA, packing=_GEMMA_PACKING, examples="google/gemma-3-4b-it"),
)}


class UnknownFamily(ValueError):
    """A model whose parts SciTune does not know how to map onto its three roles."""


def family(model_type: str) -> Family:
    """The family of MODEL_TYPE, or an error that says how to add one."""
    try:
        return FAMILIES[model_type]
    except KeyError:
        raise UnknownFamily(
            f"'{model_type}' models are not supported yet (supported: {', '.join(sorted(FAMILIES))}). To add the "
            f"family, give it an entry in scitune/model/families.py naming which of its modules is the vision "
            f"tower, the projector and the language model (print(model) shows them), whether it packs, and run "
            f"tests/contract/test_families.py with a tiny builder for it in scitune/model/tiny_families.py"
        ) from None


def family_of(model) -> Family:
    """The family of a loaded model (also through peft's wrapper, whose `config` is the base model's)."""
    return family(model.config.model_type)


def role_of(parameter_name: str, model_type: str = "llava") -> str:
    """The role of a parameter of a MODEL_TYPE model: vision_tower, multi_modal_projector or language_model."""
    return family(model_type).role_of(parameter_name)
