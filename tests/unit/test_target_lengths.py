"""Target lengths counted from cached word counts are the tokenizer's own counts, for every text."""

import random

import pytest
from transformers import AutoTokenizer

from scitune.curate.lengths import TargetLimiter, WordCounts, single_spaced
from scitune.model.embedded import embedded_lm_folder

PIECES = ["loss", "Fig.", "3", "42.5%", "(a)", "it's", "don't", "'s", "café", "naïve", "日本語", "x²", "α-β", "—",
          "<|im_end|>", "<|endoftext|>x", "e.g.,", "...", "1,000", "A/B", "\u0301e", "🙂", "x\u200by", "H₂O", "<image>"]
SPACES = [" ", " ", " ", "  ", "\t", "\n", "\u00a0", ""]


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(embedded_lm_folder())


def test_counts_from_words_are_the_tokenizers_counts(tokenizer):
    backend = tokenizer.backend_tokenizer
    assert WordCounts.applies(backend), "the embedded LM's byte-level BPE is the case the rule is for"
    rng = random.Random(0)
    texts = ["", " ", "a", " leading", "trailing ", "two  spaces", "tab\there", "line\nbreak"]
    texts += [" ".join(rng.choice(PIECES) for _ in range(rng.randint(1, 30))) for _ in range(1500)]
    texts += ["".join(rng.choice(PIECES) + rng.choice(SPACES) for _ in range(rng.randint(1, 30))) for _ in range(1500)]
    limiter = TargetLimiter(tokenizer, 64)
    limiter.words.MAX_WORDS = 200  # the word counts are forgotten many times over
    expected = [len(e.ids) for e in backend.encode_batch(texts, add_special_tokens=False)]
    assert [n for start in range(0, len(texts), 100) for n in limiter.lengths(texts[start:start + 100])] == expected
    assert sum(WordCounts.splits(text) for text in texts) > 500, "many texts take the word route"


def test_single_spaced_texts_are_what_splitting_and_joining_leaves():
    """Curation keeps a lower-cased caption as it is when `single_spaced` says so, instead of
    splitting and joining it (its dedupe key): that must change nothing, whatever the whitespace."""
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    assert len(spaces) > 20 and " " in spaces
    texts = ["", "a", "a b", " a", "a ", "a  b", "Fig. 3 (a) shows it.", "x\u200by", "日本語 テキスト"]
    texts += [f"a{space}b" for space in spaces] + [f"{space}a" for space in spaces] + [f"a b{space}" for space in spaces]
    for text in texts:
        assert not single_spaced(text) or " ".join(text.split()) == text, repr(text)
    assert [text for text in texts if single_spaced(text)] == [
        "", "a", "a b", "Fig. 3 (a) shows it.", "日本語 テキスト", "a b"], "no other whitespace passes"
