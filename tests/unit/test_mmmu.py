"""MMMU: the official multiple-choice and open-answer parsing on hand-made cases, the LLaVA-1.5
prompt, and the reader on small parquet files in the MMMU/MMMU schema."""

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from scitune.evaluate import mmmu
from scitune.sources.benchmarks import mmmu as source
from scitune.sources.benchmarks.mmmu import MMMUItem

OPTIONS = ["$6", "$7", "$8", "$9"]


@pytest.mark.parametrize("response, letter", [
    ("B", "B"), ("B.", "B"), ("(C)", "C"), ("The answer is (D).", "D"),
    ("A or B, I would say B", "B"),                       # several letters standing alone: the last one
    ("(A) is wrong, so (C)", "C"),                        # several in brackets: the last one
    ("(B) and then the letter A alone", "B"),             # brackets win over bare letters
    ("The overhead per unit comes to $8 in this case", "C"),   # > 5 words: the option text
    ("costs $8", None),                                    # ≤ 5 words and no letter: nothing (a random pick)
    ("B,", "B"), ("'B'", "B"),
    ("Answer: B", "B"),                                    # the space padding makes " B " appear
    ("AB", None),                                          # no letter stands alone
])
def test_parse_multi_choice(response, letter):
    assert mmmu.parse_multi_choice(response, OPTIONS) == letter


@pytest.mark.parametrize("response, gold, right", [
    ("3.14", "3.14", True),
    ("The answer is 3.14159.", "3.14", True),              # numbers rounded to 2 places
    ("So the total is 1,000 units", "1000", True),          # thousands separators
    ("x = 12", "12", True),                                 # '=' is an indicator in the last part
    ("It is 6.02e23", "6.02e23", True),                     # scientific notation
    ("The gas is nitrogen", "Nitrogen", True),              # text: the gold text inside, case ignored
    ("The answer is b", "b", True),                         # one letter becomes " b" / "b " on both sides…
    ("The answer is ab", "b", False),                       # … so it is not found inside a word
    ("Therefore it is 7", ["7", "seven"], True),            # several accepted answers
    ("I do not know", "4", False),
])
def test_parse_and_eval_open(response, gold, right):
    assert mmmu.eval_open(gold, mmmu.parse_open(response)) is right


def _item(item_id="validation_Physics_1", kind="multiple-choice", answer="B", **kw):
    return MMMUItem(id=item_id, image="a.png", question="<image 1> What is the cost?", options=OPTIONS if kind ==
                    "multiple-choice" else [], answer=answer, question_type=kind, subject=source.subject_of(item_id),
                    **kw)


def test_prompts_are_mmmus_llava_config():
    assert mmmu.prompt(_item()) == ("<image 1> What is the cost?\n(A) $6\n(B) $7\n(C) $8\n(D) $9\n\n"
                                    "Answer with the option's letter from the given choices directly.")
    assert mmmu.prompt(_item(kind="open", answer="7")) == (
        "<image 1> What is the cost?\nAnswer the question using a single word or phrase.")
    assert mmmu.instruction(_item()).conversations[0].value.startswith("<image>\n<image 1> What")


def test_unparseable_answers_random_is_seeded_per_item_and_counted():
    items = [_item(f"validation_Physics_{n}") for n in range(40)]
    texts = {i.id: "no idea" for i in items}
    first = mmmu.score(items, texts)
    assert first["random_guesses"] == 40 and first == mmmu.score(items, texts)
    assert 0 < first["correct"] < 40                      # some draws land on B, not all
    assert mmmu.score(items, texts, policy="wrong")["correct"] == 0
    assert mmmu.score(items, texts, seed=7)["outcomes"] != first["outcomes"]


def test_breakdowns_by_subject_and_discipline():
    items = [_item("validation_Physics_1"), _item("validation_Chemistry_1"),
             _item("validation_Clinical_Medicine_2", kind="open", answer="7", topic_difficulty="Hard")]
    result = mmmu.score(items, {"validation_Physics_1": "B", "validation_Chemistry_1": "(A)",
                                "validation_Clinical_Medicine_2": "It is 7 dollars"})
    assert result["accuracy"] == 66.67 and result["random_guesses"] == 0
    assert result["breakdowns"]["discipline"] == {
        "Science": {"accuracy": 50.0, "correct": 1, "total": 2},
        "Health and Medicine": {"accuracy": 100.0, "correct": 1, "total": 1}}
    assert result["breakdowns"]["subject"]["Clinical_Medicine"]["correct"] == 1


def _png(color) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(buffer, format="PNG")
    return buffer.getvalue()


def test_parquet_release_per_subject(tmp_path):
    # MMMU/MMMU: one config per subject; options is a Python list written as a string.
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    fields = [("id", pa.string()), ("question", pa.string()), ("options", pa.string()), ("explanation", pa.string())]
    fields += [(f"image_{n}", image) for n in range(1, 8)]
    fields += [("img_type", pa.string()), ("answer", pa.string()), ("topic_difficulty", pa.string()),
               ("question_type", pa.string()), ("subfield", pa.string())]
    schema = pa.schema(fields)

    def row(item_id, options, answer, kind="multiple-choice", question="<image 1> Which?", img=True):
        record = {"id": item_id, "question": question, "options": options, "explanation": "",
                  "img_type": "['Diagrams']",
                  "answer": answer, "topic_difficulty": "Easy", "question_type": kind, "subfield": "Optics"}
        for n in range(1, 8):
            record[f"image_{n}"] = {"bytes": _png("red"), "path": None} if img and n == 1 else None
        return record

    for subject, rows in {
        "Physics": [row("validation_Physics_1", "['1 m', '2 m']", "B"),
                    row("validation_Physics_2", "[]", "12", kind="open", question="<image 1> <image 2> How far?"),
                    row("validation_Physics_3", "['a', 'b']", "E"),
                    row("validation_Physics_4", "not a list", "A")],
        "History": [row("validation_History_1", "['x', 'y']", "A")],
    }.items():
        (tmp_path / subject).mkdir()
        table = pa.Table.from_pylist(rows, schema=schema)
        pq.write_table(table, tmp_path / subject / "validation-00000-of-00001.parquet")
        pq.write_table(pa.Table.from_pylist(rows[:1], schema=schema), tmp_path / subject / "dev-00000-of-00001.parquet")
    data = source.read_parquet(tmp_path, tmp_path / "images")          # science subjects by default
    assert list(data.items) == ["validation_Physics_1", "validation_Physics_2"]
    open_item = data.items["validation_Physics_2"]
    assert open_item.images_referenced == 2 and open_item.options == [] and open_item.discipline == "Science"
    reasons = dict(data.rejected)
    assert "'E' is not one of" in reasons["validation_Physics_3"]
    assert "not a Python list" in reasons["validation_Physics_4"]
    everything = source.read_parquet(tmp_path, tmp_path / "images", subjects=None)
    assert "validation_History_1" in everything.items
    bench = mmmu.benchmark(data)
    assert any("refer to more than one image" in note for note in bench.notes)
    assert source.parse_subjects("Humanities and Social Science") == (
        "History", "Literature", "Sociology", "Psychology")
    with pytest.raises(ValueError, match="unknown MMMU subjects Physic"):
        source.parse_subjects("Physic")
