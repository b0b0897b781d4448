"""Target lengths counted from cached word counts are the tokenizer's own counts, for every text."""

import random

import pytest
from transformers import AutoTokenizer

from scitune.curate.lengths import TargetLimiter, WordCounts
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
