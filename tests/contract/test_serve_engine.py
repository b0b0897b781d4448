"""The serving engine in-process on a tiny checkpoint: continuous batching (a short answer does not
wait for a long one), answers equal to generate alone, a bounded queue, cancellation, the system
prompt rule, and the fallback to static batching."""

import json
import threading
import time

import pytest
import torch
from PIL import Image

from scitune.model.chat import chat_format
from scitune.model.encode import Encoder
from scitune.model.generate import generate_ids
from scitune.serve.engine import Busy, Cancelled, Engine, Request


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny_model_config):
    from scitune.model.build import build_llava

    model, processor = build_llava(tiny_model_config, seed=3)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # larger random weights: answers depend on the prompt
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    folder = tmp_path_factory.mktemp("ckpt") / "tiny-sci"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def _engine(folder, **kwargs) -> Engine:
    engine = Engine(folder, **kwargs)
    assert engine.wait_ready(120), engine.error
    return engine


def _ask(text, max_tokens, image=None, **kwargs) -> Request:
    turns = [("human", ("<image>\n" if image else "") + text)]
    return Request(turns=turns, image=image, max_tokens=max_tokens, **kwargs)


def _alone(engine, request_text, max_tokens, image=None, system=""):
    ids = Encoder(engine.processor, chat_format(engine.processor), system).encode_chat(
        [("human", ("<image>\n" if image else "") + request_text)])
    with torch.inference_mode():
        tokens = generate_ids(engine.model, engine.processor, [(ids, image)], max_tokens)[0]
    return engine.tokenizer.decode(tokens, skip_special_tokens=True).strip()


def _first_piece(request: Request) -> threading.Event:
    started = threading.Event()
    request.on_text = lambda piece: started.set()
    return started


@pytest.mark.parametrize("batching", ["continuous", "static"])
def test_a_short_answer_does_not_wait_for_a_long_one(checkpoint, batching):
    engine = _engine(checkpoint, max_batch=8, batching=batching)
    image = Image.new("RGB", (40, 30), (10, 200, 90))
    long = _ask("Describe every detail of this chart", 400, image)
    started = _first_piece(long)
    engine.submit(long)
    assert started.wait(60)  # the long answer is being decoded
    short = engine.submit(_ask("Which type of figure?", 3))
    answer = short.result(60)
    if batching == "continuous":
        assert not long.future.done(), "the short request joined the running batch and left it first"
        assert long.future.result(120).completion_tokens == 400
    else:
        assert long.future.done(), "a static batch is closed: the short request waited for the long one"
    assert answer.text == _alone(engine, "Which type of figure?", 3)
    assert long.future.result().text == _alone(engine, "Describe every detail of this chart", 400, image)


def test_concurrent_requests_are_answered_as_alone(checkpoint):
    engine = _engine(checkpoint, max_batch=4)
    prompts = [(f"question {n}: " + "why " * (n % 7), 2 + 5 * (n % 4), Image.new("RGB", (30, 30), (20 * n, 5, 9))
                if n % 3 == 0 else None) for n in range(12)]
    futures = [engine.submit(_ask(text, budget, image)) for text, budget, image in prompts]
    answers = [future.result(120).text for future in futures]
    assert answers == [_alone(engine, text, budget, image) for text, budget, image in prompts]
    assert len(set(answers)) > 4
    assert engine.stats["largest_batch"] == 4 and engine.load() == {"queued": 0, "decoding": 0, "in_flight": 0,
                                                                     "capacity": 4 + 64}


def test_the_queue_is_bounded_and_places_come_back(checkpoint):
    engine = _engine(checkpoint, max_batch=1, max_queue=1)
    first, second = engine.reserve(), engine.reserve()
    with pytest.raises(Busy, match="the server is busy") as refused:
        engine.reserve()
    assert refused.value.retry_after >= 1
    with pytest.raises(Busy):
        engine.submit(_ask("hello", 2))
    first.release()
    first.release()  # given back once only
    answer = engine.submit(_ask("hello", 2), engine.reserve()).result(60)
    assert answer.completion_tokens >= 1
    second.release()
    assert engine.load()["in_flight"] == 0 and engine.stats["refused_busy"] == 2


def test_cancelled_requests_leave_the_queue_and_the_batch(checkpoint):
    engine = _engine(checkpoint, max_batch=1, max_queue=4)
    decoding = _ask("Tell a very long story", 500)
    pieces = []
    decoding.on_text = pieces.append
    engine.submit(decoding)
    waiting = _ask("Waiting in line", 5)
    engine.submit(waiting)
    deadline = time.time() + 60
    while len(pieces) < 3 and time.time() < deadline:
        time.sleep(0.01)
    engine.cancel(waiting)
    with pytest.raises(Cancelled):
        waiting.future.result(0)  # out of the queue at once
    engine.cancel(decoding)
    with pytest.raises(Cancelled):
        decoding.future.result(10)
    assert len(pieces) < 500, "the cancelled row left the batch long before its budget"
    after = engine.submit(_ask("next", 2)).result(60)  # the worker goes on
    assert after.text == _alone(engine, "next", 2)
    assert engine.stats["cancelled"] == 2 and engine.load()["in_flight"] == 0


def test_a_request_system_message_replaces_the_default(checkpoint):
    default = _engine(checkpoint, system_prompt="You are SciTune, a careful scientist.")
    plain = _engine(checkpoint)
    own = default.submit(_ask("What is a histogram?", 12, system="Answer in French.")).result(60)
    assert own.text == plain.submit(_ask("What is a histogram?", 12, system="Answer in French.")).result(60).text
    assert own.text == _alone(plain, "What is a histogram?", 12, system="Answer in French.")
    given = default.submit(_ask("What is a histogram?", 12)).result(60)
    assert given.text == _alone(plain, "What is a histogram?", 12, system="You are SciTune, a careful scientist.")
    assert given.prompt_tokens != own.prompt_tokens


def test_a_checkpoint_the_step_loop_cannot_reproduce_is_served_in_static_batches(checkpoint, tmp_path):
    import shutil

    folder = tmp_path / "penalised"
    shutil.copytree(checkpoint, folder)
    config = json.loads((folder / "generation_config.json").read_text())
    (folder / "generation_config.json").write_text(json.dumps({**config, "repetition_penalty": 1.5}))
    engine = _engine(folder)
    assert engine.batching == "static"
    answers = [engine.submit(_ask(f"question {n}", 10)) for n in range(3)]
    assert [a.result(60).text for a in answers] == [_alone(engine, f"question {n}", 10) for n in range(3)]
