import hashlib
from collections import Counter

from scitune.sources.demo import generate_corpus
from scitune.sources.vocabulary import FIGURE_TYPES


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((folder / "images").iterdir())}


def test_demo_corpus_is_deterministic_and_complete(tmp_path):
    records, problems = generate_corpus(tmp_path / "a", 2, 0.3, 64, seed=5)
    again, again_problems = generate_corpus(tmp_path / "b", 2, 0.3, 64, seed=5)
    assert records == again and problems == again_problems
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b"), "same seed must render the same pixels"
    assert Counter(r.figure_type for r in records) == {t: 2 for t in FIGURE_TYPES}
    assert all(r.caption and r.ocr and (r.paragraphs or r.mentions) for r in records)
    assert len(problems) == 3 * len(records)
    for problem in problems:
        assert problem.subject and problem.grade and problem.lecture and problem.solution


def test_split_is_by_paper(tmp_path):
    records, problems = generate_corpus(tmp_path, 3, 0.3, 64, seed=1)
    split_of_record = {p.pid.rsplit("-", 1)[0]: p.split for p in problems}
    papers = {}
    for record in records:
        papers.setdefault(record.source.paper_id, set()).add(split_of_record[record.id])
    assert all(len(splits) == 1 for splits in papers.values())
    assert {s for splits in papers.values() for s in splits} == {"train", "test"}
