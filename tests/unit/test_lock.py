"""requirements.lock against pyproject.toml: in sync, and a stale lock fails with the refresh command."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / ".ci" / "lock.py"

pytest.importorskip("tomllib", reason="the lock check reads pyproject.toml with tomllib (Python 3.11+)")


def _check(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "check", "--root", str(root)],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def copy(tmp_path) -> Path:
    for name in ("pyproject.toml", "requirements.lock"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_the_committed_lock_is_in_sync_with_pyproject():
    result = _check(ROOT)
    assert result.returncode == 0, result.stderr


def test_a_new_dependency_makes_the_lock_stale(copy):
    pyproject = copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('dependencies = [\n', 'dependencies = [\n  "tqdm>=4",\n', 1))
    result = _check(copy)
    assert result.returncode == 1
    assert "pyproject.toml changed since requirements.lock was compiled" in result.stderr
    assert "run `make lock`" in result.stderr


def test_reordering_or_reformatting_pyproject_keeps_the_lock(copy):
    pyproject = copy / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace('  "accelerate', '\n  "accelerate'))
    assert _check(copy).returncode == 0


def test_a_pin_outside_pyprojects_range_or_a_locked_torch_fails(copy):
    pytest.importorskip("packaging")
    lock = copy / "requirements.lock"
    text = lock.read_text()
    lock.write_text(text.replace("\ngradio==6.", "\ngradio==7.", 1) + "torch==2.13.0\nnvidia-nccl-cu13==2.30.7\n")
    result = _check(copy)
    assert result.returncode == 1
    assert "gradio==7." in result.stderr and "outside pyproject's 'gradio<7,>=5.0'" in result.stderr
    assert "torch is locked" in result.stderr and "nvidia-nccl-cu13 (a CUDA wheel) is locked" in result.stderr


def test_the_lock_pins_every_package_with_hashes():
    lock = (ROOT / "requirements.lock").read_text()
    pins = [line for line in lock.splitlines() if line and not line[0].isspace() and not line.startswith("#")]
    assert len(pins) > 50 and all("==" in pin and pin.endswith("\\") for pin in pins), pins[:3]
    assert lock.count("--hash=sha256:") >= len(pins)
