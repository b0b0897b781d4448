"""Shared fixtures: tiny random models (real classes, real tokenizer) and the shared data folder."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from scitune.config import ModelConfig, VisionConfig

ROOT = Path(__file__).resolve().parents[1]


def shared_data() -> Path:
    return Path(os.environ.get("SCITUNE_TEST_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    path = shared_data()
    if not path.is_dir():
        pytest.skip(f"third-party test data not found at {path} (set SCITUNE_TEST_DATA)")
    return path


@pytest.fixture(scope="session")
def ocr_benchmark():
    """benchmarks/ocr_accuracy.py as a module (a script, not part of the package): its sets and truths."""
    spec = importlib.util.spec_from_file_location("ocr_accuracy", ROOT / "benchmarks" / "ocr_accuracy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tiny_model_config() -> ModelConfig:
    return ModelConfig(
        language_model="tiny",
        tiny_lm_hidden_size=64,
        vision=VisionConfig(image_size=32, patch_size=16, hidden_size=32, num_hidden_layers=1, num_attention_heads=2),
    )


@pytest.fixture(scope="session")
def tiny_llava(tiny_model_config):
    from scitune.model.build import build_llava

    return build_llava(tiny_model_config, seed=0)
