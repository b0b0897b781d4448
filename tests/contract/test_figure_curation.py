"""`curate figures` on a corpus full of bad input: every record is either kept or rejected with its
reason, counts add up, no paper straddles splits, targets fit the token limit."""

import json
import os

import pytest
from PIL import Image
from transformers import AutoTokenizer

from scitune.config import FigureCurationConfig
from scitune.contracts import FigureRecord, Instruction, Rejection, read_jsonl
from scitune.curate.corpus import FigureCuration, split_of
from scitune.model.embedded import embedded_lm_folder
from scitune.sources.figures import read_figures


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(embedded_lm_folder())


def _png(path, seed, size=(24, 16)):
    Image.new("RGB", size, ((seed * 37) % 256, (seed * 91) % 256, (seed * 53) % 256)).save(path)


def _corpus(root, outside):
    root.mkdir()
    rows = []
    for n in range(40):  # good figures over 20 papers
        _png(root / f"good{n}.png", n)
        rows.append({"id": f"g{n}", "image": f"good{n}.png", "caption": f"Figure {n % 2 + 1}: Result number {n}.",
                     "type": ["Graph Plot", "table", "bar chart", "Scatterplot"][n % 4], "paper_id": f"paper{n // 2}",
                     "mentions": [f"As Fig. {n % 2 + 1} shows, item {n} matters."]})
    truncated = _png(root / "truncated.png", 100, (64, 64)) or (root / "truncated.png").read_bytes()
    (root / "truncated.png").write_bytes(truncated[: len(truncated) // 2])
    _png(root / "bomb.png", 101, (400, 400))
    (root / "notimage.png").write_text("hello")
    _png(outside / "secret.png", 102)
    os.symlink(outside / "secret.png", root / "link.png")
    _png(root / "copy.png", 0)  # same bytes as good0.png
    _png(root / "long.png", 103)
    _png(root / "nocap.png", 104)
    _png(root / "weird.png", 105)
    _png(root / "dup.png", 106)
    _png(root / "samecap.png", 107)
    long_mentions = [f"Sentence {k} explains one more detail of the figure at length." for k in range(80)]
    rows += [
        {"id": "trunc", "image": "truncated.png", "caption": "Cut file.", "paper_id": "x1"},
        {"id": "bomb", "image": "bomb.png", "caption": "Huge.", "paper_id": "x2"},
        {"id": "notimg", "image": "notimage.png", "caption": "Text file.", "paper_id": "x3"},
        {"id": "escape", "image": "../../etc/passwd", "caption": "Escape.", "paper_id": "x4"},
        {"id": "absolute", "image": str(outside / "secret.png"), "caption": "Absolute.", "paper_id": "x5"},
        {"id": "symlink", "image": "link.png", "caption": "Symlink out.", "paper_id": "x6"},
        {"id": "missing", "image": "nothere.png", "caption": "Missing.", "paper_id": "x7"},
        {"id": "copy", "image": "copy.png", "caption": "Same pixels as g0.", "paper_id": "x8"},
        {"id": "nocap", "image": "nocap.png", "caption": "  ", "paper_id": "x9"},
        {"id": "weird", "image": "weird.png", "caption": "A thing.", "type": "hologram", "paper_id": "x10"},
        {"id": "g1", "image": "dup.png", "caption": "Duplicate id.", "paper_id": "x11"},
        {"id": "samecap", "image": "samecap.png", "caption": "Figure 1: Result number 0.", "paper_id": "paper0"},
        {"id": "placeholder", "image": "good1.png", "caption": "Inputs <image> go here.", "paper_id": "x13"},
        {"id": "long", "image": "long.png", "caption": "A long one.", "type": "table", "paper_id": "x12",
         "mentions": long_mentions},
    ]
    lines = [json.dumps(r).encode() for r in rows]
    lines.insert(5, b'{"id": "latin1", "image": "good0.png", "caption": "caf\xe9"}')
    (root / "metadata.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return len(rows) + 1


def test_bad_input_is_quarantined_with_reasons_and_counts_add_up(tmp_path, tokenizer):
    outside = tmp_path / "outside"
    outside.mkdir()
    total = _corpus(tmp_path / "corpus", outside)
    cfg = FigureCurationConfig(ocr="none", max_pixels=300 * 300, max_target_tokens=96, test_fraction=0.3)
    result = FigureCuration(cfg, tmp_path / "out", tmp_path / "corpus", tokenizer).run(
        read_figures("folder", tmp_path / "corpus"))
    assert result["records_in"] == total and result["adds_up"]
    assert result["records_kept"] == 41 and result["records_rejected"] == 14
    rejected = {r.id.split("-", 1)[-1]: r.reason for r in read_jsonl(tmp_path / "out" / "rejected.jsonl", Rejection)}
    assert "cannot be read" in rejected["trunc"]
    assert "decompression bomb" in rejected["bomb"]
    assert "cannot be read" in rejected["notimg"]
    for name in ("escape", "absolute", "symlink"):
        assert "outside the image root" in rejected[name], name
    assert "does not exist" in rejected["missing"]
    assert rejected["copy"] == "same image as corpus-g0"
    assert rejected["nocap"] == "empty caption"
    assert "'hologram' is not one of the known types" in rejected["weird"]
    assert rejected["g1"] == "duplicate id corpus-g1"
    assert rejected["samecap"] == "same caption as corpus-g0 on paper paper0"
    assert rejected["6"] == "text is not valid UTF-8"
    assert "image placeholder <image>" in rejected["placeholder"]
    # Counted by the typed kind each rejection carries, never by the wording of its message.
    kinds = {r.id.split("-", 1)[-1]: r.kind for r in read_jsonl(tmp_path / "out" / "rejected.jsonl", Rejection)}
    assert kinds["bomb"] == "too_many_pixels" and kinds["escape"] == "outside_image_root"
    assert kinds["missing"] == "missing_image" and kinds["6"] == "invalid_utf8"
    assert result["rejected_by_kind"] == {
        "outside_image_root": 3, "unreadable_image": 2, "too_many_pixels": 1, "missing_image": 1,
        "duplicate_image": 1, "empty_caption": 1, "unknown_figure_type": 1, "duplicate_id": 1,
        "duplicate_caption": 1, "invalid_utf8": 1, "image_placeholder_in_text": 1}
    quality = (tmp_path / "out" / "quality.md").read_text()
    assert "(adds up)" in quality and (tmp_path / "out" / "quality.png").stat().st_size > 5000
    # The manifest's line counts come from the writer, not from reading the files again: they are the files'.
    from scitune.curate.manifest import _lines, read_manifest

    files = read_manifest(tmp_path / "out")["files"]
    assert set(files) == {f"{s}.jsonl" for s in ("train", "val", "test")}
    assert {name: info["count"] for name, info in files.items()} == {
        name: _lines(tmp_path / "out" / name) for name in files}
    assert files["test.jsonl"]["count"] > 0


def test_split_by_paper_types_normalised_and_targets_within_the_limit(tmp_path, tokenizer):
    outside = tmp_path / "outside"
    outside.mkdir()
    _corpus(tmp_path / "corpus", outside)
    cfg = FigureCurationConfig(ocr="none", max_target_tokens=96, test_fraction=0.3)
    FigureCuration(cfg, tmp_path / "out", tmp_path / "corpus", tokenizer).run(read_figures("folder", tmp_path / "corpus"))
    papers = {split: {r.source.paper_id for r in read_jsonl(tmp_path / "out" / f"records_{split}.jsonl", FigureRecord)}
              for split in ("train", "val", "test")}
    assert papers["train"] and papers["test"] and not papers["train"] & papers["test"]
    assert all(split_of(p, 0.3, 0.0) == "test" for p in papers["test"])
    items = [i for s in ("train", "test") for i in read_jsonl(tmp_path / "out" / f"{s}.jsonl", Instruction)]
    types = {i.conversations[-1].value for i in items if i.source["task"] == "figure_type"}
    assert types == {"graph plot", "table", "bar chart", "scatter plot"}
    long = next(i for i in items if i.id == "corpus-long-describe")
    target = long.conversations[-1].value
    assert len(tokenizer(target, add_special_tokens=False)["input_ids"]) <= 96 < len(tokenizer(
        " ".join(f"Sentence {k} explains one more detail of the figure at length." for k in range(80)))["input_ids"])
    assert target.endswith("at length.") and long.source["truncated_to_tokens"] == 96
    g0 = next(i for i in items if i.id == "corpus-g0-describe")
    assert g0.source["fields"] == ["figure_type", "caption", "mentions"] and g0.source["paper_id"] == "paper0"
    assert "Graph plot: Result number 0." in g0.conversations[-1].value, "'Figure 1' became the type"


def test_same_input_same_files(tmp_path, tokenizer):
    outside = tmp_path / "outside"
    outside.mkdir()
    _corpus(tmp_path / "corpus", outside)
    cfg = FigureCurationConfig(ocr="none", tasks=["describe", "figure_type", "caption"])
    for out in ("a", "b"):
        FigureCuration(cfg, tmp_path / out, tmp_path / "corpus", tokenizer).run(read_figures("folder", tmp_path / "corpus"))
    for name in ("train.jsonl", "test.jsonl", "rejected.jsonl", "records_train.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_texts_under_the_byte_bound_are_never_tokenised_and_never_too_long(tokenizer):
    """The limiter skips the tokenizer for a text of B UTF-8 bytes when B + 1 <= the limit: true only
    if the target LM's tokenizer never makes more tokens than that (byte-level BPE: one per byte at most)."""
    from scitune.curate.corpus import TargetLimiter

    limiter = TargetLimiter(tokenizer, 64)
    texts = ["", " ", "a", "  \n\t  x", "é" * 40, "中文字符" * 5, "😀🧪" * 8, "e\u0301" * 20, "<|im_start|>" * 3,
             "0123456789" * 6, "Fig. 3(a) shows μ = 0.5 ± 0.1 kg·m⁻².", "\x00\x01\x7f" * 10, "ﬁ" * 20]
    for text in texts:
        count = limiter.lengths([text])[0]
        assert count <= len(text.encode("utf-8")) + 1, text
        assert limiter.may_exceed(text) or count <= 64, text


def test_a_placeholder_that_ocr_adds_after_the_checks_is_still_refused(tokenizer):
    """Curation writes instructions without validating each; the one text that can reach a target
    unchecked (OCR read after the checks) is still refused, naming the instruction."""
    from scitune.curate.corpus import Stats, TargetBuilder

    record = FigureRecord(id="r1", image="a.png", figure_type="table", caption="Fine.", ocr=["see <image> here"],
                          source={"dataset": "d", "paper_id": "p", "figure_id": "f", "license": "CC0"})
    builder = TargetBuilder(FigureCurationConfig(ocr="none"), tokenizer, 0, Stats())
    with pytest.raises(ValueError, match="instruction r1-describe: 2 '<image>' placeholders"):
        list(builder.lines([record]))
