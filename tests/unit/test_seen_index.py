"""Dedupe state: the first record owns its keys, a refused record owns none, whether the records come
one batch or many; counters of parts add up to the counters of the whole."""

from scitune.curate.corpus import SeenIndex, Stats

CLAIMS = [
    (["id:a", "image:1", "caption:p\x00x"], "a"),
    (["id:b", "image:1", "caption:p\x00y"], "b"),  # a's image: refused, and owns nothing
    (["id:c", "image:2", "caption:p\x00y"], "c"),  # b's caption is free, since b was refused
    (["id:a", "image:3", "caption:p\x00z"], "a"),  # a second record with id a
    (["id:d", "image:3", "caption:p\x00x"], "d"),  # image 3 is free; a's caption is not
]
EXPECTED = [None, ("image:1", "a"), None, ("id:a", "a"), ("caption:p\x00x", "a")]


def test_one_batch_and_many_batches_decide_alike(tmp_path):
    whole = SeenIndex(tmp_path / "whole.sqlite")
    assert whole.claim_many(CLAIMS) == EXPECTED
    parts = SeenIndex(tmp_path / "parts.sqlite")
    assert [verdict for start in range(0, len(CLAIMS), 2) for verdict in parts.claim_many(CLAIMS[start:start + 2])] \
        == EXPECTED
    one = SeenIndex(tmp_path / "one.sqlite")
    assert [one.claim(keys, owner) for keys, owner in CLAIMS] == EXPECTED
    for index in (whole, parts, one):
        index.close()
    assert not (tmp_path / "whole.sqlite").exists()


def test_counts_of_parts_add_up_and_report_in_a_fixed_order():
    first, second, whole = Stats(), Stats(), Stats()
    first.records_in, second.records_in = 3, 2
    first.rejected.update({"missing_image": 1, "duplicate_id": 1})
    second.rejected.update({"duplicate_id": 1})
    first.kept["train"] += 1
    second.kept.update({"test": 1, "train": 0})
    first.add_length(20)
    second.add_length(300)
    whole.add(first.counts())
    whole.add(second.counts())
    report = whole.to_json()
    assert report["records_in"] == 5 and report["records_kept"] == 2 and report["adds_up"] is True
    assert list(report["rejected_by_kind"].items()) == [("duplicate_id", 2), ("missing_image", 1)]
    assert report["target_tokens_histogram_sample_1_in_8"] == {"<=32": 1, "<=384": 1}
    assert list(report["kept_per_split"]) == ["test", "train"]


def test_more_new_keys_than_one_insert_statement_holds(tmp_path):
    index = SeenIndex(tmp_path / "big.sqlite")
    claims = [([f"id:{n}", f"image:{n}"], str(n)) for n in range(700)]  # 1,400 new keys in one batch
    assert index.claim_many(claims) == [None] * 700
    again = [([f"id:x{n}", f"image:{n}"], f"x{n}") for n in range(0, 700, 7)]
    assert index.claim_many(again) == [(f"image:{n}", str(n)) for n in range(0, 700, 7)]
    index.close()


def test_keys_moved_to_disk_keep_their_owners(tmp_path):
    """Past its memory bound the index moves its keys to disk: the verdicts do not change, whether
    the bitmap of spilled keys is roomy or so small that every key may be on disk."""
    for bits in (SeenIndex.FILTER_BITS, 8):
        index = SeenIndex(tmp_path / f"spill{bits}.sqlite")
        index.MEMORY_KEYS, index.FILTER_BITS = 2, bits  # every batch after the first spills
        assert [verdict for start in range(0, len(CLAIMS), 2) for verdict in index.claim_many(CLAIMS[start:start + 2])] \
            == EXPECTED
        assert (tmp_path / f"spill{bits}.sqlite").exists()
        index.close()
        assert not (tmp_path / f"spill{bits}.sqlite").exists()
    index = SeenIndex(tmp_path / "big.sqlite")
    index.MEMORY_KEYS = 100
    assert index.claim_many([([f"id:{n}", f"image:{n}"], str(n)) for n in range(700)]) == [None] * 700
    again = [([f"id:x{n}", f"image:{n}"], f"x{n}") for n in range(700)]  # 700 keys looked up on disk at once
    assert index.claim_many(again) == [(f"image:{n}", str(n)) for n in range(700)]
    index.close()
