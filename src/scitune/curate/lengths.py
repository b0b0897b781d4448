"""Target lengths in the tokens of the LM being trained: counted exactly, at a fraction of the cost
of tokenising every target."""

from __future__ import annotations

from scitune.sources.sentences import split_sentences


def single_spaced(text: str) -> bool:
    """True when TEXT's only whitespace is single spaces between words, so that
    `" ".join(text.split())` is TEXT itself (False for some such texts: any unprintable character).
    isprintable: no whitespace but the ASCII space (tabs, newlines, no-break spaces and every other
    character `str.split` splits at are not printable)."""
    return text.isprintable() and text[:1] != " " and text[-1:] != " " and "  " not in text


class WordCounts:
    """Exact token counts of byte-level BPE tokenizers (GPT-2's scheme: SmolLM2, Qwen, …) from counts
    of their words, each tokenised once.

    Such a tokenizer splits a text into pre-tokens by a regex before BPE merges anything, and a
    single space between two non-spaces always starts a new pre-token (' word', ' 42', ' (a'). So a
    text whose only whitespace is single spaces between words has as many tokens as its words, the
    first as it is and every other with its leading space, have together. Counting a target then
    costs dictionary lookups: the tokenizer's own pre-tokenisation regex cost more than the whole
    rest of curation for the targets it counted. Any other text goes to the tokenizer whole.
    """

    MAX_WORDS = 1 << 17  # forgotten when there are more: memory stays bounded

    def __init__(self, backend):
        self.encode = backend.encode_batch_fast
        self.first: dict[str, int] = {}  # word → tokens, at the start of a text
        self.spaced: dict[str, int] = {}  # word → tokens of ' ' + word

    @classmethod
    def applies(cls, backend) -> bool:
        """Whether BACKEND (a `tokenizers.Tokenizer`) splits texts as the rule above needs: no
        normalizer, GPT-2's byte-level regex without an added prefix space, deterministic BPE, and
        added tokens that neither hold a space nor swallow the whitespace beside them."""
        from tokenizers import pre_tokenizers

        pre = backend.pre_tokenizer
        added = backend.get_added_tokens_decoder().values() if hasattr(backend, "get_added_tokens_decoder") else None
        return (backend.normalizer is None and isinstance(pre, pre_tokenizers.ByteLevel) and pre.use_regex
                and not pre.add_prefix_space and type(backend.model).__name__ == "BPE"
                and not getattr(backend.model, "dropout", None) and hasattr(backend, "encode_batch_fast")
                and added is not None
                and not any(t.lstrip or t.rstrip or any(c.isspace() for c in t.content) for t in added))

    @staticmethod
    def splits(text: str) -> bool:
        return single_spaced(text) and text != ""

    def lengths(self, texts: list[str]) -> list[int | None]:
        """Token counts of TEXTS, None for the texts the rule does not cover."""
        words = [text.split(" ") if self.splits(text) else None for text in texts]
        first, spaced = self.first, self.spaced
        new_first = list({w[0] for w in words if w is not None and w[0] not in first})
        new_spaced = list({word for w in words if w is not None for word in w[1:] if word not in spaced})
        if len(first) + len(new_first) > self.MAX_WORDS or len(spaced) + len(new_spaced) > self.MAX_WORDS:
            first.clear()
            spaced.clear()
            new_first = list({w[0] for w in words if w is not None})
            new_spaced = list({word for w in words if w is not None for word in w[1:]})
        if new_first or new_spaced:
            counts = self.encode([*new_first, *(" " + word for word in new_spaced)], add_special_tokens=False)
            first.update(zip(new_first, (len(e.ids) for e in counts[:len(new_first)])))
            spaced.update(zip(new_spaced, (len(e.ids) for e in counts[len(new_first):])))
        return [None if w is None else first[w[0]] + sum(map(spaced.__getitem__, w[1:])) for w in words]


class TargetLimiter:
    """Targets no longer than N tokens of the target LM's tokenizer, cut at sentence boundaries.

    A text never has more tokens than UTF-8 bytes plus one (byte-level BPE: at most one token per
    byte; SentencePiece may add one word-boundary token), so only texts longer than that bound are
    tokenised to enforce the limit: the exact rule at a fraction of the cost.
    """

    def __init__(self, tokenizer, max_tokens: int):
        self.tokenizer = tokenizer
        # The Rust tokenizer directly: the Python wrapper's per-text conversion costs more than encoding.
        self.backend = getattr(tokenizer, "backend_tokenizer", None)
        self.words = WordCounts(self.backend) if self.backend is not None and WordCounts.applies(self.backend) else None
        self.max_tokens = max_tokens

    def may_exceed(self, text: str) -> bool:
        # An ASCII text has a byte per character (isascii reads a flag; encoding copies the text).
        return (len(text) if text.isascii() else len(text.encode("utf-8"))) + 1 > self.max_tokens

    def lengths(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        counts = self.words.lengths(texts) if self.words is not None else [None] * len(texts)
        rest = [text for text, count in zip(texts, counts) if count is None]
        if rest:
            found = iter(self._encoded_lengths(rest))
            counts = [next(found) if count is None else count for count in counts]
        return counts

    def _encoded_lengths(self, texts: list[str]) -> list[int]:
        if self.backend is not None:  # the fast batch call skips the character offsets nobody reads here
            encode = getattr(self.backend, "encode_batch_fast", self.backend.encode_batch)
            return [len(e.ids) for e in encode(texts, add_special_tokens=False)]
        return [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]

    def cut(self, text: str) -> str | None:
        """The longest run of whole leading sentences within the limit; None if the first is too long."""
        sentences = split_sentences(text)
        low, high = 0, len(sentences)  # longer prefixes never have fewer tokens: bisect on the count
        while low < high:
            middle = (low + high + 1) // 2
            if self.lengths([" ".join(sentences[:middle])])[0] <= self.max_tokens:
                low = middle
            else:
                high = middle - 1
        return " ".join(sentences[:low]) if low else None
