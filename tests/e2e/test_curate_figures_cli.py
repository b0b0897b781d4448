"""`scitune curate figures` and `scitune ocr` from the command line, on SciCap-format files."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scitune.contracts import Instruction, read_jsonl, write_jsonl
from scitune.sources.demo import generate_corpus

ROOT = Path(__file__).resolve().parents[2]


def _scitune(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "scitune.cli", *map(str, args)], capture_output=True, text=True,
                            cwd=ROOT, timeout=300)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_curate_demo_records_then_evaluate_them(tmp_path, tiny_llava):
    records, _ = generate_corpus(tmp_path / "corpus", 3, 0.3, 64, seed=0)
    write_jsonl(tmp_path / "corpus" / "figures.jsonl", records)
    out = _scitune("curate", "figures", tmp_path / "corpus" / "figures.jsonl", "--output-dir", tmp_path / "cur",
                   "--set", "ocr=none", "--set", "components=CT", "--set", "test_fraction=0.5").stdout
    assert "Records in 18 = kept 18 + rejected 0 (adds up)" in out
    items = [i for s in ("train", "test") for i in read_jsonl(tmp_path / "cur" / f"{s}.jsonl", Instruction)]
    assert len(items) == 36 and all(i.source["components"] == "CT" for i in items if i.source["task"] == "describe")
    model, processor = tiny_llava
    model.save_pretrained(tmp_path / "ckpt")
    processor.save_pretrained(tmp_path / "ckpt")
    _scitune("evaluate", "figures", "--model", tmp_path / "ckpt", "--data", tmp_path / "cur" / "records_test.jsonl",
             "--image-root", tmp_path / "corpus", "--output-dir", tmp_path / "eval", "--max-new-tokens", "4")
    scores = json.loads((tmp_path / "eval" / "scores.json").read_text())
    test_records = len((tmp_path / "cur" / "records_test.jsonl").read_text().splitlines())
    assert scores["figure_types"]["count"] == test_records > 0


def test_bad_setting_is_refused_before_any_work(tmp_path):
    (tmp_path / "r.jsonl").write_text("")
    result = _scitune("curate", "figures", tmp_path / "r.jsonl", "--output-dir", tmp_path / "o", "--set",
                      "components=CX", check=False)
    assert result.returncode == 2 and "components" in result.stdout and not (tmp_path / "o").exists()


@pytest.mark.shared_data
def test_scicap_challenge_file_with_real_figures_read_by_the_default_ocr(shared_data_dir, tmp_path):
    figures = sorted((shared_data_dir / "scicap_figures").glob("*.png"))
    data = {"images": [{"id": n, "file_name": f.name, "figure_type": "Graph Plot"} for n, f in enumerate(figures)],
            "annotations": [{"image_id": n, "caption_no_index": f"Result {n} of the paper.", "mention": [],
                             "paragraph": []} for n in range(len(figures))]}
    (tmp_path / "val.json").write_text(json.dumps(data))
    for out in ("cur", "again"):
        _scitune("curate", "figures", tmp_path / "val.json", "--image-root", shared_data_dir / "scicap_figures",
                 "--output-dir", tmp_path / out, "--ocr-cache", tmp_path / "cache")
    quality = json.loads((tmp_path / "cur" / "quality.json").read_text())
    assert quality["records_kept"] == len(figures) and quality["ocr"]["engine:figure"] == len(figures)
    again = json.loads((tmp_path / "again" / "quality.json").read_text())
    assert again["ocr"]["cache_hits"] == len(figures), "a rerun reads no figure twice"
    described = [i for s in ("train", "test") for i in read_jsonl(tmp_path / "cur" / f"{s}.jsonl", Instruction)
                 if i.source["task"] == "describe"]
    assert all("Text in the figure:" in i.conversations[-1].value for i in described)
    assert all("ocr" in i.source["fields"] for i in described)
    # `scitune ocr` keeps its reads too (curation's were made with each caption as a lexicon, another key).
    _scitune("ocr", *figures[:2], "--cache", tmp_path / "cache", "--output", tmp_path / "o.jsonl")
    out = _scitune("ocr", *figures[:2], "--cache", tmp_path / "cache", "--output", tmp_path / "o.jsonl").stdout
    assert "2 images (2 from the cache)" in out
    assert all(json.loads(line)["words"] for line in (tmp_path / "o.jsonl").read_text().splitlines())


def test_curate_latex_and_pdf_then_figures(tmp_path):
    from scitune.sources.demo_papers import write_latex_paper, write_pdf_paper

    write_latex_paper(tmp_path / "papers" / "2301.00001")
    write_pdf_paper(tmp_path / "pdfs" / "2301.00002.pdf")
    out = _scitune("curate", "latex", tmp_path / "papers", "--output-dir", tmp_path / "latex").stdout
    # With TeX the table and the TikZ figure are cropped from the compiled paper; without, reported.
    # Either way the figure whose file is missing is reported.
    expected = "6 figure records, 1 problems" if shutil.which("latexmk") else "4 figure records, 4 problems"
    assert f"1 papers → {expected} reported" in " ".join(out.split())
    out = _scitune("curate", "pdf", tmp_path / "pdfs", "--output-dir", tmp_path / "pdf").stdout
    assert "1 papers → 4 figure records, 0 problems reported, 2 pages" in " ".join(out.split())
    for source in ("latex", "pdf"):
        _scitune("curate", "figures", tmp_path / source / "figures.jsonl", "--image-root", tmp_path / source,
                 "--output-dir", tmp_path / f"{source}-cur", "--set", "ocr=none", "--set", "test_fraction=0")
        quality = json.loads((tmp_path / f"{source}-cur" / "quality.json").read_text())
        records = len((tmp_path / source / "figures.jsonl").read_text().splitlines())
        assert quality["records_kept"] == records and quality["adds_up"], quality
