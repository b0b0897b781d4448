"""SciFIBench: the README prompt, the rule and the local-model reply that give the letter, and the
reader on small parquet files in the published schema (one figure, or five composed into a grid)."""

import io

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from scitune.evaluate import scifibench
from scitune.sources.benchmarks import scifibench as source
from scitune.sources.benchmarks.scifibench import SciFIBenchItem
from scitune.sources.images import load_image

CAPTIONS = ["A)  ber vs snr for fft size=2048 .", "B)  ber vs snr for fft size=1024 .",
            "C)  ber vs snr for fft size=512 .", "D)  ber vs snr for fft size=256 with a 16 qam modulation .",
            "E)  ber vs snr for a bpsk modulation ."]


def _item(task="Figure2Caption", answer="D"):
    question = "Which caption best matches the image?" if task == "Figure2Caption" else \
        "Caption: ber vs snr. Which image best matches the caption?"
    return SciFIBenchItem(id=f"CS_{task}-40", image="a.png", question=question, options=CAPTIONS, answer=answer,
                          task=task, domain="CS", category="other cs")


def test_prompt_follows_the_readme():
    text = scifibench.prompt(_item())
    assert text.startswith("A)  ber vs snr for fft size=2048 .\nB)")
    assert text.endswith("E)  ber vs snr for a bpsk modulation .\nWhich caption best matches the image? Let's think "
                         "step by step. Only provide the letter of the correct caption as your answer. Answer:")
    assert "letter of the correct image" in scifibench.prompt(_item("Caption2Figure"))


def test_letters_from_rules_and_from_an_extractor_model():
    items = [_item(), _item("Caption2Figure", answer="B")]
    texts = {items[0].id: "The figure shows 256-point FFTs with 16 QAM. Answer: D",
             items[1].id: "Hard to say."}
    rules = scifibench.score(items, texts)
    assert rules["accuracy"] == 50.0 and rules["parse_failures"] == 1 and rules["extractor"].startswith("rules")
    assert rules["breakdowns"]["task"]["Figure2Caption"]["correct"] == 1
    replies = {items[0].id: "D", items[1].id: "None"}
    model = scifibench.score(items, texts, extracted=replies, extractor_name="smol")
    assert model["extractor"] == "model:smol" and model["letters"] == {items[0].id: "D", items[1].id: None}
    assert scifibench.read_model_letter("(B) because", 5) == "B" and scifibench.read_model_letter("F", 5) is None
    prompt = scifibench.extraction_prompt(items[0], texts[items[0].id])
    assert "Answer: D" in prompt and "options A) to E)" in prompt


def _png(color, size=(40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def test_parquet_release_one_figure_or_a_grid_of_five(tmp_path):
    # dataset_infos.json: ID int64, Question, Options (list of string), Answer, Category, Images (list of Image).
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    schema = pa.schema([("ID", pa.int64()), ("Question", pa.string()), ("Options", pa.list_(pa.string())),
                        ("Answer", pa.string()), ("Category", pa.string()), ("Images", pa.list_(image))])
    colors = ["red", "green", "blue", "yellow", "purple"]
    figure = [{"ID": 0, "Question": "Which caption best matches the image?", "Options": CAPTIONS, "Answer": "D",
               "Category": "other cs", "Images": [{"bytes": _png("red"), "path": None}]},
              {"ID": 1, "Question": "Which caption best matches the image?", "Options": CAPTIONS, "Answer": "D",
               "Category": "other cs", "Images": [{"bytes": _png("red"), "path": None}] * 2}]
    caption = [{"ID": 0, "Question": "Caption: ber vs snr. Which image best matches the caption?",
                "Options": ["A) image0", "B) image1", "C) image2", "D) image3", "E) image4"], "Answer": "B",
                "Category": "cs.IT", "Images": [{"bytes": _png(c, (60 + 10 * n, 30)), "path": None}
                                                for n, c in enumerate(colors)]}]
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    pq.write_table(pa.Table.from_pylist(figure, schema=schema), data_dir / "CS_Figure2Caption-00000-of-00001.parquet")
    pq.write_table(pa.Table.from_pylist(caption, schema=schema), data_dir / "CS_Caption2Figure-00000-of-00001.parquet")
    data = source.read_parquet(data_dir, tmp_path / "images")
    assert list(data.items) == ["CS_Caption2Figure-0", "CS_Figure2Caption-0"]
    assert "2 images for a Figure2Caption item" in dict(data.rejected)["CS_Figure2Caption-1"]
    grid = load_image(data.image_root, data.items["CS_Caption2Figure-0"].image, "grid")
    assert grid.size == (3 * 336, 2 * (336 + 28))
    # each option sits in its own tile, in reading order: tile B (middle top) is green
    assert grid.getpixel((336 + 168, 28 + 168)) == (0, 128, 0)
    assert data.items["CS_Caption2Figure-0"].task == "Caption2Figure"
    assert data.items["CS_Figure2Caption-0"].domain == "CS"
    only = source.read_parquet(data_dir, tmp_path / "images", splits=("CS_Figure2Caption",))
    assert list(only.items) == ["CS_Figure2Caption-0"]
