"""The web UI (Gradio), mounted on the API server at /ui: a figure, a question, the answer streaming in.

It calls the same engine as the API (no second generation path) under the same limits: the upload
is read from the file Gradio stored (its size and pixels checked before it is decoded, by the
functions the API uses), the question's size and the token budget are checked here, not only by the
slider's range, and a full server says so instead of queueing without bound. A page that goes away
cancels its request. Examples are figures rendered by the demo corpus at start-up, so the page has
something to click on any machine.
"""

from __future__ import annotations

import queue
import tempfile
from pathlib import Path

import gradio as gr
from fastapi import FastAPI

from scitune.config import ServeConfig
from scitune.contracts import IMAGE_PLACEHOLDER
from scitune.serve.engine import Busy, Engine, NotReady, Request, TooLong
from scitune.serve.limits import Refused, check_max_tokens, check_text, image_from_file


def example_figures(folder: Path, count: int = 3) -> list[list]:
    """[image path, question] pairs from freshly rendered demo figures."""
    from scitune.sources.demo import generate_corpus

    records, _ = generate_corpus(folder, 1, 0.0, 320, seed=0)
    questions = ("Which type of figure is this?", "Describe this scientific figure.", "What does the figure show?")
    return [[str(folder / r.image), questions[n % len(questions)]] for n, r in enumerate(records[:count])]


def answer_stream(engine: Engine, cfg: ServeConfig, figure: str | Path | None, question: str, max_tokens):
    """Yield the answer as it grows (a generator Gradio streams to the page). FIGURE is the path of
    the uploaded file. Closing the generator (the page went away) cancels the request."""
    question = (question or "").strip()
    if not question:
        yield "Ask a question about the figure."
        return
    try:
        check_text(question, cfg)
        try:
            tokens = check_max_tokens(int(max_tokens), cfg)
        except (TypeError, ValueError):
            raise Refused(400, f"max new tokens must be a whole number, not {max_tokens!r}") from None
        image = image_from_file(Path(figure), cfg) if figure else None
    except Refused as error:
        yield f"⚠ {error.message}"
        return
    pieces: queue.Queue[str] = queue.Queue()
    text = f"{IMAGE_PLACEHOLDER}\n{question}" if image is not None else question
    request = Request(turns=[("human", text)], image=image, max_tokens=tokens, on_text=pieces.put)
    try:
        future = engine.submit(request)
    except (NotReady, TooLong, Busy) as error:
        yield f"⚠ {error}"
        return
    try:
        shown = ""
        while not future.done() or not pieces.empty():
            try:
                shown += pieces.get(timeout=0.05)
                yield shown
            except queue.Empty:
                continue
        answer = future.result()
        if answer.text != shown:
            yield answer.text
    finally:
        if not future.done():
            engine.cancel(request)


def build_ui(engine: Engine, default_max_tokens: int = 128, max_tokens_limit: int | None = None,
             cfg: ServeConfig | None = None) -> gr.Blocks:
    """The page. CFG holds the limits (the server's ServeConfig); without it, the defaults with
    MAX_TOKENS_LIMIT as `max_tokens`."""
    if cfg is None:
        cfg = ServeConfig() if max_tokens_limit is None else ServeConfig(max_tokens=max_tokens_limit)
    examples_dir = Path(tempfile.mkdtemp(prefix="scitune-ui-"))
    with gr.Blocks(title="SciTune") as ui:
        gr.Markdown(f"## SciTune · `{engine.name}`\nUpload or paste a scientific figure and ask about it. "
                    f"Decoding: greedy (deterministic); answers stream as they are generated.")
        with gr.Row():
            with gr.Column():
                # image_mode=None: Gradio hands over the uploaded file as it is, undecoded; our limits read it.
                image = gr.Image(type="filepath", image_mode=None, label="Figure", sources=["upload", "clipboard"],
                                 elem_id="figure")
                question = gr.Textbox(label="Question", placeholder="Which type of figure is this?",
                                      elem_id="question")
                max_tokens = gr.Slider(1, cfg.max_tokens, value=min(default_max_tokens, cfg.max_tokens), step=1,
                                       label="max new tokens")
                ask = gr.Button("Ask", variant="primary", elem_id="ask")
            with gr.Column():
                answer = gr.Textbox(label="Answer", lines=12, elem_id="answer", interactive=False)
        gr.Examples(example_figures(examples_dir), inputs=[image, question], label="Examples (demo figures)")

        def respond(figure, text, limit):
            yield from answer_stream(engine, cfg, figure, text, limit)

        # No queue of Gradio's own: the engine's bounded queue is the one every request waits in.
        ask.click(respond, [image, question, max_tokens], answer, concurrency_limit=None)
        question.submit(respond, [image, question, max_tokens], answer, concurrency_limit=None)
    return ui


def mount_ui(app: FastAPI, engine: Engine, cfg: ServeConfig, path: str = "/ui") -> FastAPI:
    """APP with the web UI at PATH; uploads larger than the image limit are refused by Gradio itself."""
    return gr.mount_gradio_app(app, build_ui(engine, cfg=cfg), path=path, max_file_size=cfg.max_image_bytes)
