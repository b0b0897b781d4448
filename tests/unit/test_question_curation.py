"""ScienceQA curation per split: image questions whose image file is absent (missing_images)."""

import json
from pathlib import Path

import pytest

from scitune.config import QuestionCurationConfig
from scitune.contracts import read_jsonl
from scitune.curate.questions import curate_questions
from scitune.contracts import Instruction


def _release(tmp_path: Path) -> tuple[Path, Path]:
    """problems.json in the official layout; the images folder holds only the image of pid 2."""
    def problem(split, image, answer=0):
        return {"question": "Which is a unit of mass?", "choices": ["kilogram", "meter"], "answer": answer,
                "hint": "", "image": image, "task": "closed choice", "grade": "grade3", "subject": "natural science",
                "topic": "units", "category": "Units", "skill": "mass", "lecture": "", "solution": "", "split": split}
    problems = {"1": problem("train", None), "2": problem("train", "image.png"), "3": problem("train", "image.png", 1),
                "4": problem("test", "image.png"), "5": problem("test", None), "6": problem("val", "image.png")}
    (tmp_path / "images" / "train" / "2").mkdir(parents=True)
    (tmp_path / "images" / "train" / "2" / "image.png").write_bytes(b"\x89PNG")  # existence is what counts here
    path = tmp_path / "problems.json"
    path.write_text(json.dumps(problems))
    return path, tmp_path / "images"


def _curate(tmp_path, **settings):
    path, images = _release(tmp_path)
    cfg = QuestionCurationConfig(format="QCM-A", val_split="val", **settings)
    out = tmp_path / "out"
    manifest = curate_questions([path], cfg, out, image_root=images)
    split = {role: list(read_jsonl(out / f"{role}.jsonl", Instruction)) for role in ("train", "val", "test")}
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    return manifest, split, rejected


def test_by_default_a_question_whose_image_is_missing_is_rejected_with_its_split(tmp_path):
    manifest, split, rejected = _curate(tmp_path)
    assert [i.id for i in split["train"]] == ["1", "2"] and [i.id for i in split["test"]] == ["5"]
    assert split["val"] == []
    assert {(r["id"], r["kind"], r["where"]) for r in rejected} == {
        ("3", "missing_image", "split train"), ("4", "missing_image", "split test"), ("6", "missing_image", "split val")}
    assert manifest["rejected"] == 3 and manifest["rejected_by_kind"] == {"missing_image": 3}
    assert manifest["image_checks"] == {"train": {"missing_image": 1}, "val": {"missing_image": 1},
                                        "test": {"missing_image": 1}}
    assert split["train"][1].image == "train/2/image.png", "an image that is at hand stays"


def test_text_only_trains_the_question_without_its_image_but_never_evaluates_one(tmp_path):
    manifest, split, rejected = _curate(tmp_path, missing_images="text_only")
    three = next(i for i in split["train"] if i.id == "3")
    assert three.image is None and not three.conversations[0].value.startswith("<image>")
    assert three.conversations[1].value == "Answer: The answer is B."
    assert three.source["missing_image"] == "train/3/image.png", "the instruction says which image it lacks"
    assert next(i for i in split["train"] if i.id == "2").image == "train/2/image.png"
    assert [i.id for i in split["test"]] == ["5"] and split["val"] == [], "held-out splits still reject"
    assert {r["id"] for r in rejected} == {"4", "6"}
    assert manifest["image_checks"]["train"] == {"text_only": 1}
    assert manifest["settings"]["missing_images"] == "text_only"


def test_an_image_path_outside_the_root_is_rejected_even_in_text_only_mode(tmp_path):
    path, images = _release(tmp_path)
    problems = json.loads(path.read_text())
    problems["1"]["image"] = "../../../problems.json"  # read_official prefixes train/1/: this climbs out
    problems["1"]["split"] = "train"
    path.write_text(json.dumps(problems))
    out = tmp_path / "out"
    manifest = curate_questions([path], QuestionCurationConfig(format="QCM-A", missing_images="text_only"), out,
                                image_root=images)
    kinds = {json.loads(line)["id"]: json.loads(line)["kind"] for line in (out / "rejected.jsonl").read_text().splitlines()}
    assert kinds["1"] == "outside_image_root"
    assert manifest["image_checks"]["train"] == {"outside_image_root": 1, "text_only": 1}


def test_text_only_without_an_image_folder_is_a_clear_error(tmp_path):
    path, _ = _release(tmp_path)
    with pytest.raises(ValueError, match="missing_images=text_only needs the image folder"):
        curate_questions([path], QuestionCurationConfig(missing_images="text_only"), tmp_path / "out")


def test_without_an_image_folder_image_questions_are_kept_unchecked(tmp_path):
    path, _ = _release(tmp_path)
    manifest = curate_questions([path], QuestionCurationConfig(format="QCM-A"), tmp_path / "out")
    assert manifest["files"]["train.jsonl"]["count"] == 3 and manifest["image_checks"] is None


@pytest.mark.shared_data
def test_the_shared_copy_of_scienceqa_trains_its_image_questions_text_only(shared_data_dir, tmp_path):
    data = shared_data_dir / "scienceqa"
    sources = [data / "problems_sample.json", data / "problems_partial.json"]
    counts = {}
    for mode in ("reject", "text_only"):
        cfg = QuestionCurationConfig(format="QCM-A", val_split="val", missing_images=mode)
        manifest = curate_questions(sources, cfg, tmp_path / mode, data / "pid_splits.json", data / "images")
        counts[mode] = {info["split"]: info["count"] for info in manifest["files"].values()}
        # every test image of these problems that the copy holds is kept with its image
        test = list(read_jsonl(tmp_path / mode / "test.jsonl", Instruction))
        assert all((data / "images" / i.image).is_file() for i in test if i.image)
    # 1,041 train problems at hand, 521 of them image questions without their image; val and test
    # keep only text-only questions and the 51 test image questions whose image is shipped
    assert counts["reject"] == {"train": 520, "val": 180, "test": 245}
    assert counts["text_only"] == {"train": 1041, "val": 180, "test": 245}
