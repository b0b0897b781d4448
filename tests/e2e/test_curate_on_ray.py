"""Curation on Ray Data (a local instance, 2 workers) gives what the in-process engine gives, line for
line after sorting, on a corpus with planted faults: duplicates of every kind, bad images, bad
text, a line that is no record, a target whose first sentence is too long, OCR run on real figures."""

import functools
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'scitune[ray]'")

from transformers import AutoTokenizer  # noqa: E402

from scitune.config import FigureCurationConfig  # noqa: E402
from scitune.contracts import write_jsonl  # noqa: E402
from scitune.curate.corpus import OUTPUT_FILES, FigureCuration  # noqa: E402
from scitune.curate.ray_engine import curate_on_ray  # noqa: E402
from scitune.model.build import resolve_lm_name  # noqa: E402
from scitune.sources.demo import generate_corpus  # noqa: E402
from scitune.sources.figures import read_figures  # noqa: E402

pytestmark = pytest.mark.slow


def _planted(tmp: Path) -> Path:
    """Demo records (real PNGs) and one record per fault, in the FigureRecord JSONL format."""
    records, _ = generate_corpus(tmp / "corpus", 4, 0.3, 64, seed=3)
    # Half the records carry no OCR: the engine reads those.
    records = [r.model_copy(update={"ocr": []}) if n % 2 else r for n, r in enumerate(records)]
    first, second = records[0], records[1]
    (tmp / "corpus" / "broken.png").write_bytes((tmp / "corpus" / first.image).read_bytes()[:60])
    shutil.copy(tmp / "corpus" / second.image, tmp / "corpus" / "copy.png")
    for number, name in enumerate(("other1.png", "other2.png")):  # images of their own (other bytes)
        with Image.open(tmp / "corpus" / second.image) as image:
            image.convert("RGB").rotate(90 * (number + 1)).save(tmp / "corpus" / name)
    long_sentence = " ".join(["word"] * 400) + "."
    planted = [
        first.model_copy(update={"caption": "Another caption for the same id."}),  # duplicate_id
        first.model_copy(update={"id": "same-bytes", "image": "copy.png", "caption": "A new caption."}),  # image
        second.model_copy(update={"id": "same-caption", "image": "other1.png"}),  # caption on its paper
        first.model_copy(update={"id": "outside", "image": "../outside.png", "caption": "Outside."}),
        first.model_copy(update={"id": "missing", "image": "missing.png", "caption": "Missing."}),
        first.model_copy(update={"id": "broken", "image": "broken.png", "caption": "Broken."}),
        first.model_copy(update={"id": "empty", "caption": "  "}),
        first.model_copy(update={"id": "odd-type", "figure_type": "hologram", "caption": "Odd."}),
        first.model_copy(update={"id": "slot", "caption": "A <image> in the caption."}),
        first.model_copy(update={"id": "too-long", "image": "other2.png", "caption": long_sentence}),
    ]
    path = tmp / "records.jsonl"
    write_jsonl(path, [*records, *planted])
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"id": "no-record"}\n')
    return path


def _files(out: Path) -> dict:
    files = {name: sorted((out / name).read_text(encoding="utf-8").splitlines()) for name in OUTPUT_FILES}
    quality = json.loads((out / "quality.json").read_text())
    return {"files": files, "quality": quality}


def test_ray_engine_equals_the_in_process_engine(tmp_path):
    path = _planted(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(resolve_lm_name("embedded:smollm2-135m-instruct"))
    cfg = FigureCurationConfig(ocr="figure", max_target_tokens=64, type_prompts_per_figure=2,
                               tasks=["describe", "figure_type", "caption", "read_text"])
    root = tmp_path / "corpus"
    FigureCuration(cfg, tmp_path / "local", root, tokenizer, seed=5, ocr_cache=tmp_path / "cache_local").run(
        read_figures("records", path))
    curate_on_ray(cfg, tmp_path / "ray", root, tokenizer, 5, functools.partial(read_figures, "records", path),
                  workers=2, ocr_cache=tmp_path / "cache_ray")
    local, ray = _files(tmp_path / "local"), _files(tmp_path / "ray")
    assert local["files"] == ray["files"]
    assert local["quality"] == ray["quality"]
    kinds = local["quality"]["rejected_by_kind"]
    assert {"duplicate_id", "duplicate_image", "duplicate_caption", "outside_image_root", "missing_image",
            "unreadable_image", "empty_caption", "unknown_figure_type", "image_placeholder_in_text",
            "first_sentence_too_long", "invalid_record"} <= set(kinds), kinds
    ocr = local["quality"]["ocr"]
    assert local["quality"]["adds_up"] and ocr["carried:corpus"] > 0 and ocr.get("engine:figure", 0) + ocr.get("empty", 0) > 0
    assert local["quality"]["ocr"]["cache_misses"] == ray["quality"]["ocr"]["cache_misses"] > 0


def test_papers_on_ray_equal_the_process_pool(tmp_path):
    from pypdf import PdfReader, PdfWriter

    from scitune.curate.papers import curate_papers
    from scitune.sources.demo_papers import write_pdf_paper
    from scitune.sources.pdf import read_pdf_paper

    write_pdf_paper(tmp_path / "good.pdf")
    writer = PdfWriter(clone_from=PdfReader(tmp_path / "good.pdf"))
    writer.encrypt("secret")
    with open(tmp_path / "locked.pdf", "wb") as handle:
        writer.write(handle)
    (tmp_path / "damaged.pdf").write_bytes((tmp_path / "good.pdf").read_bytes()[:2000])
    papers = [tmp_path / "damaged.pdf", tmp_path / "good.pdf", tmp_path / "locked.pdf"]
    local = curate_papers(papers, tmp_path / "local", read_pdf_paper, workers=2)
    ray = curate_papers(papers, tmp_path / "ray", read_pdf_paper, workers=2, engine="ray")
    for name in ("figures.jsonl", "rejected.jsonl"):
        assert (tmp_path / "local" / name).read_text() == (tmp_path / "ray" / name).read_text()
    assert local["per_paper"] == ray["per_paper"] and local["figures"] == 4 and ray["rejected"] == 2
    assert sorted(p.name for p in (tmp_path / "ray").rglob("*.png")) == sorted(
        p.name for p in (tmp_path / "local").rglob("*.png"))


def test_cli_engine_ray_writes_what_the_local_engine_writes(tmp_path):
    import subprocess
    import sys

    path = _planted(tmp_path)
    outputs = {}
    for engine in ("local", "ray"):
        result = subprocess.run(
            [sys.executable, "-m", "scitune.cli", "curate", "figures", str(path), "--output-dir", str(tmp_path / engine),
             "--engine", engine, "--workers", "1", "--set", "ocr=none"],
            capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], timeout=600)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        assert "adds up" in result.stdout
        outputs[engine] = _files(tmp_path / engine)
    assert outputs["local"] == outputs["ray"]
    bad = subprocess.run([sys.executable, "-m", "scitune.cli", "curate", "figures", str(path), "--output-dir",
                          str(tmp_path / "bad"), "--engine", "spark"], capture_output=True, text=True)
    assert bad.returncode == 2 and "local or ray" in bad.stdout + bad.stderr
