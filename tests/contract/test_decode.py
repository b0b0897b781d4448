"""Step-wise decoding (continuous batching) against `generate_ids`: rows that join and leave a running
batch get, token for token, what generate gives each of them alone; the cache shrinks as rows leave."""

import random

import pytest
import torch
from PIL import Image

from scitune.model import decode as decode_module
from scitune.model import generate as generate_module
from scitune.model.chat import chat_format
from scitune.model.decode import Decoder, Decoding, unsupported
from scitune.model.encode import Encoder
from scitune.model.generate import StopRule, generate_ids


@pytest.fixture(scope="module")
def varied(tiny_model_config):
    """Larger random weights: answers depend on the prompt and the image, so a leak between rows shows."""
    from scitune.model.build import build_llava

    model, processor = build_llava(tiny_model_config, seed=7)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    return model.eval(), processor


def _prompts(processor, count, seed=0):
    """(prompt ids, image or None, max_new_tokens): text and image prompts of varied length and budget."""
    encoder = Encoder(processor, chat_format(processor), "")
    rng = random.Random(seed)
    words = "pressure temperature voltage bar chart scatter table equation node diagram mass energy".split()
    items = []
    for n in range(count):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 25)))
        image = Image.new("RGB", (48, 32), (rng.randrange(256), 40, rng.randrange(256))) if n % 2 else None
        ids = encoder.encode_chat([("human", ("<image>\n" if image else "") + text)])
        items.append((ids, image, rng.choice([1, 3, 8, 20, 33])))
    return items


def _run(decoder, items, max_batch, decodings=None, expect_join=True):
    """Serve ITEMS through DECODER, at most MAX_BATCH rows at once, joining as places free up.
    Returns each item's tokens and the largest number of rows that were ever decoding together."""
    waiting = list(range(len(items)))
    done, largest, joined_mid_run = {}, 0, False
    while waiting or decoder.rows:
        while waiting and len(decoder.rows) < max_batch:
            index = waiting.pop(0)
            ids, image, budget = items[index]
            joined_mid_run |= bool(decoder.rows)
            pixels = decoder.pixel_values(image) if image is not None else None
            row = decoder.join(index, ids, pixels, decodings[index] if decodings else Decoding(budget))
            if row.finish:
                done[index] = row.tokens
        largest = max(largest, len(decoder.rows))
        for row in decoder.step():
            if row.finish:
                done[row.key] = row.tokens
    assert joined_mid_run or not expect_join, "requests must join a batch that is already decoding"
    return done, largest


def _alone(model, processor, items):
    with torch.inference_mode():
        return {n: generate_ids(model, processor, [(ids, image)], budget)[0]
                for n, (ids, image, budget) in enumerate(items)}


def test_rows_joining_and_leaving_get_what_generate_gives_each_alone(varied):
    model, processor = varied
    items = _prompts(processor, 14)
    decoder = Decoder(model, processor)
    together, largest = _run(decoder, items, max_batch=5)
    assert largest == 5
    alone = _alone(model, processor, items)
    assert together == alone
    assert len({tuple(tokens) for tokens in alone.values()}) > 5, "answers must differ with the prompt"
    assert [len(alone[n]) for n in range(len(items))] == [budget for _, _, budget in items], \
        "every row runs to its own budget, whatever the others ask"
    assert decoder.rows == [] and decoder.width == 0, "nothing is kept once every row has left"


def test_the_cache_shrinks_to_the_longest_row_still_running(varied):
    model, processor = varied
    items = sorted(_prompts(processor, 12), key=lambda item: len(item[0]))
    (short, short_image, _), (long, _, _) = items[0], items[-1]
    assert len(long) > len(short) + 5
    decoder = Decoder(model, processor)
    decoder.join("long", long, None, Decoding(2))
    decoder.join("short", short, decoder.pixel_values(short_image) if short_image else None, Decoding(10))
    assert decoder.width == len(long)  # the short prompt is padded on the left to the long one
    decoder.step()  # the long row reaches its budget and leaves
    assert [row.key for row in decoder.rows] == ["short"]
    assert decoder.width == len(short) + 1, "columns only the departed row used are trimmed"


@pytest.mark.slow  # transformers' stop-string criteria take seconds to set up at every generate call
def test_stop_tokens_stop_strings_and_min_new_tokens_as_generate_does(varied, monkeypatch):
    model, processor = varied
    items = [(ids, image, 24) for ids, image, _ in _prompts(processor, 10, seed=3)]
    tokenizer = processor.tokenizer
    plain = _alone(model, processor, items)
    # Rules that really fire on these answers: a token some answer says second (held off by
    # min_new_tokens), a token first said late in some answers, the text of another late token.
    early_answer, early = next((n, tokens[1]) for n, tokens in plain.items() if tokens[1] != tokens[0])
    first_seen: dict[int, dict[int, int]] = {}
    for n, tokens in plain.items():
        for token in tokens:
            first_seen.setdefault(token, {}).setdefault(n, tokens.index(token))
    late = [token for token, seen in first_seen.items() if min(seen.values()) >= 6]
    late_token = late[0]
    cut_token = next(token for token in late[1:] if not set(first_seen[token]) & set(first_seen[late_token])
                     and tokenizer.decode([token]).strip())
    phrase = tokenizer.decode([cut_token]).strip()
    rule = StopRule((tokenizer.eos_token_id, early, late_token), (phrase,))
    for module in (generate_module, decode_module):
        monkeypatch.setattr(module, "stop_rule", lambda *args, **kwargs: rule)
    monkeypatch.setattr(model.generation_config, "min_new_tokens", 4)
    expected = _alone(model, processor, items)
    together, _ = _run(Decoder(model, processor), items, max_batch=4)
    assert together == expected
    assert len(expected[early_answer]) >= 4, "min_new_tokens holds off a stop token said second"
    assert any(tokens[-1] == late_token for tokens in expected.values()), "a stop token ends an answer"
    cut = [tokens for n, tokens in expected.items() if n in first_seen[cut_token]]
    assert cut and all(tokens[-1] == tokenizer.eos_token_id and phrase not in tokenizer.decode(tokens)
                       for tokens in cut), "answers that say the stop string are cut before it, EOS in its place"


def test_a_sampled_row_depends_on_its_seed_only(varied):
    model, processor = varied
    items = _prompts(processor, 4, seed=5)
    sampled = [Decoding(12, temperature=1.0, top_p=0.9, seed=11 + n) for n in range(len(items))]
    alone = {}
    for n, item in enumerate(items):
        result, _ = _run(Decoder(model, processor), [item], max_batch=1, decodings=[sampled[n]],
                         expect_join=False)
        alone[n] = result[0]
    together, _ = _run(Decoder(model, processor), items, max_batch=3, decodings=sampled)
    assert together == alone
    greedy = _alone(model, processor, [(ids, image, 12) for ids, image, _ in items])
    assert together != greedy, "sampling at temperature 1 must not be greedy decoding"


def test_generation_settings_it_cannot_reproduce_are_named(varied, monkeypatch):
    model, _ = varied
    assert unsupported(model) is None
    monkeypatch.setattr(model.generation_config, "repetition_penalty", 1.3)
    assert "repetition_penalty=1.3" in unsupported(model)
    with pytest.raises(ValueError, match="repetition_penalty"):
        Decoder(model, varied[1])


def test_a_row_gets_the_same_bits_in_any_batch(varied):
    """Not only the same argmax: the same logits, bit for bit, alone and beside 1 to 12 other rows of
    other lengths, first or last (row-wise attention; batches a multiple of the measured row quantum)."""
    model, processor = varied
    items = _prompts(processor, 13, seed=9)
    target, others = items[0][0], [ids for ids, _, _ in items[1:]]
    captured = []

    def logits_of_target(prompts, key_of_target):
        decoder = Decoder(model, processor)
        choose = decoder._choose
        log = []

        def capture(logits, rows):
            log.extend(logits[i].clone() for i, row in enumerate(rows) if row.key == key_of_target)
            return choose(logits, rows)

        decoder._choose = capture
        for n, ids in enumerate(prompts):
            decoder.join(n, ids, None, Decoding(50))
        for _ in range(3):
            decoder.step()
        captured.append(decoder.quantum)
        return log

    alone = logits_of_target([target], 0)
    for count in (1, 2, 4, 7, 12):
        assert all(torch.equal(a, b) for a, b in zip(alone, logits_of_target([target, *others[:count]], 0)))
        assert all(torch.equal(a, b) for a, b in zip(alone, logits_of_target([*others[:count], target], count)))
    assert len(alone) == 4 and set(captured) <= {1, 2, 4, 8, 16}
