import pytest

from scitune.contracts import FigureRecord
from scitune.curate.figures import ctom_target, figure_instructions, replace_figure_refs, split_ctom


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Figure 2: Mean mass of four groups.", "Bar chart: Mean mass of four groups."),
        ("As Fig. 3 shows, mass grows.", "As the bar chart shows, mass grows."),
        ("The Figure 4 shows mass.", "The bar chart shows mass."),
        ("In Figs. 2 and in Figure 5(a) we see it.", "In the bar chart and in the bar chart we see it."),
        ("No reference here.", "No reference here."),
    ],
)
def test_figure_references_become_the_type(text, expected):
    assert replace_figure_refs(text, "bar chart") == expected


def _record(**kw):
    data = dict(
        id="r1", image="images/a.png", figure_type="bar chart", caption="Figure 1: Mean mass per group.",
        ocr=["mass (kg)", "Alpha"], mentions=["Figure 1 shows mass."], paragraphs=["As Fig. 1 shows, mass varies."],
        source={"dataset": "d", "paper_id": "p1", "figure_id": "Figure1", "license": "CC0"},
    )
    data.update(kw)
    return FigureRecord.model_validate(data)


def test_ctom_target_in_paper_order_with_provenance_fields():
    text, fields = ctom_target(_record(), "CTOM")
    assert text == ("This figure is a bar chart. Bar chart: Mean mass per group. "
                    "Text in the figure: mass (kg), Alpha. The paper says: The bar chart shows mass.")
    assert fields == ["figure_type", "caption", "ocr", "mentions"]
    text, fields = ctom_target(_record(mentions=[]), "M")
    assert (text, fields) == ("The paper says: As the bar chart shows, mass varies.", ["paragraphs"]), \
        "paragraphs are the fallback"


@pytest.mark.parametrize("components", ["CTOM", "CT", "C", "CM", "CO", "TOM"])
def test_split_ctom_recovers_each_part_of_the_target(components):
    text, _ = ctom_target(_record(), components)
    parts = split_ctom(text)
    assert parts["type"] == ("bar chart" if "T" in components else "")
    assert parts["caption"] == ("Bar chart: Mean mass per group." if "C" in components else "")
    assert parts["ocr"] == ("mass (kg), Alpha." if "O" in components else "")
    assert parts["mentions"] == ("The bar chart shows mass." if "M" in components else "")


def test_split_ctom_takes_free_model_text_as_caption():
    assert split_ctom("A plot of loss against epochs")["caption"] == "A plot of loss against epochs"
    assert split_ctom("This figure is an equation. E = mc^2 Text in the figure: E")["caption"] == "E = mc^2"


def test_components_switch_and_unknown_type_is_never_guessed():
    assert ctom_target(_record(), "C") == ("Bar chart: Mean mass per group.", ["caption"])
    text, fields = ctom_target(_record(figure_type=None), "CTOM")
    assert "figure_type" not in fields and text.startswith("Figure 1: Mean mass")


def test_instructions_are_seeded_and_carry_provenance():
    records = [_record(id=f"r{i}") for i in range(6)]
    first = [i.to_json() for i in figure_instructions(records, "CTOM", ["bar chart", "table"], seed=3)]
    again = [i.to_json() for i in figure_instructions(records, "CTOM", ["bar chart", "table"], seed=3)]
    assert first == again
    type_items = [i for i in first if i["source"]["task"] == "figure_type"]
    assert len(type_items) == 6 and all(i["conversations"][1]["value"] == "bar chart" for i in type_items)
    assert "Answer with one of: bar chart, table." in type_items[0]["conversations"][0]["value"]
    assert {"dataset": "d", "paper_id": "p1", "figure_id": "Figure1", "record": "r0"}.items() <= first[0]["source"].items()
    three = list(figure_instructions(records[:1], "CT", ["bar chart"], seed=0, type_prompts=3))
    prompts = [i.conversations[0].value for i in three if i.source["task"] == "figure_type"]
    assert len(prompts) == len(set(prompts)) == 3, "each classification uses another template"


ODD_TEXT = 'Figure 1: "Mass" per café — 中文 😀\tand \\ \x01\x1f \u2028\u2029 \ufeff </s> é.'


def test_curation_rows_are_the_validated_instructions_byte_for_byte():
    """Curation writes `instruction_rows` with orjson instead of building and dumping an Instruction
    each: the lines must be what the validated Instruction dumps, odd characters included."""
    from scitune.contracts import Instruction
    from scitune.curate.corpus import json_line
    from scitune.curate.figures import TASKS, instruction_rows

    record = _record(caption=ODD_TEXT, ocr=["μ (kg)", "\x7f"])
    rows = instruction_rows(record, "CTOM", ("bar chart", "table"), 5, 3, frozenset(TASKS))
    assert [r["source"]["task"] for r in rows] == ["describe", "figure_type", "figure_type", "figure_type",
                                                    "caption", "read_text"]
    for row in [*rows, {**rows[0], "source": {**rows[0]["source"], "truncated_to_tokens": 384}}]:
        assert json_line(row) == Instruction.model_validate(row).model_dump_json(by_alias=True)
    assert [Instruction.model_validate(r) for r in rows] == list(
        figure_instructions([record], "CTOM", ["bar chart", "table"], seed=5, type_prompts=3, tasks=TASKS))


def test_the_checks_copy_with_the_normalised_type_is_the_model_copy():
    """Curation copies each record with its normalised type by hand, for speed: the copy must be
    the one pydantic's `model_copy` makes, down to the JSON and the fields set."""
    from scitune.curate.corpus import _with_type

    record = _record(figure_type="Bar Chart")
    fast, slow = _with_type(record, "bar chart"), record.model_copy(update={"figure_type": "bar chart"})
    assert fast == slow and fast.model_dump_json() == slow.model_dump_json()
    assert fast.model_fields_set == slow.model_fields_set and fast.__pydantic_extra__ == slow.__pydantic_extra__
    assert record.figure_type == "Bar Chart", "the original is left as it was"


@pytest.mark.parametrize("fields", [
    {}, {"figure_type": None, "ocr": [], "mentions": [], "paragraphs": []},
    {"caption": ODD_TEXT, "ocr": ["\x00", "μ"], "ocr_from": "engine:figure", "mentions": ["a\nb"]},
])
def test_a_record_line_is_what_pydantic_writes(fields):
    from scitune.curate.corpus import _with_type, record_line

    record = _record(**fields)
    assert record_line(record) == record.model_dump_json()
    copy = _with_type(record, "table")
    assert record_line(copy) == copy.model_dump_json()
    filled = record.model_copy(update={"ocr": ["read"], "ocr_from": "engine:figure"})  # as OCR fills it in
    assert record_line(filled) == filled.model_dump_json()


def test_what_orjson_refuses_is_left_to_pydantic():
    """A lone surrogate (json.loads makes one of an escaped half pair) fails as pydantic fails; an
    integer past 64 bits is written as pydantic writes it."""
    from pydantic_core import PydanticSerializationError, to_json

    from scitune.curate.corpus import json_line

    with pytest.raises(PydanticSerializationError, match="surrogates not allowed"):
        json_line({"value": "a\ud800b"})
    assert json_line({"n": 2**70, "s": "x"}) == to_json({"n": 2**70, "s": "x"}).decode()


def test_without_opening_images_one_path_under_the_root_is_one_image_however_spelled(tmp_path):
    from scitune.config import FigureCurationConfig
    from scitune.curate.corpus import RecordChecks

    checks = RecordChecks(FigureCurationConfig(image_check="none", ocr="none"), tmp_path / "root")
    names = ["figs/a.png", "figs/./a.png", "figs/sub/../a.png", "./figs/a.png", "figs/b.png", "a.png"]
    keys = [next(k for k in checks(_record(id=f"r{n}", image=name)).keys if k.startswith("image:"))
            for n, name in enumerate(names)]
    assert len(set(keys[:4])) == 1 and len(set(keys[3:])) == 3
