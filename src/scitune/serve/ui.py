"""The web UI (Gradio), mounted on the API server at /ui: a figure, a question, the answer streaming in.

It calls the same engine as the API (no second generation path); examples are figures rendered by
the demo corpus at start-up, so the page has something to click on any machine.
"""

from __future__ import annotations

import queue
import tempfile
from pathlib import Path

import gradio as gr
from PIL import Image

from scitune.contracts import IMAGE_PLACEHOLDER
from scitune.serve.engine import Engine, NotReady, Request, TooLong


def example_figures(folder: Path, count: int = 3) -> list[list]:
    """[image path, question] pairs from freshly rendered demo figures."""
    from scitune.sources.demo import generate_corpus

    records, _ = generate_corpus(folder, 1, 0.0, 320, seed=0)
    questions = ("Which type of figure is this?", "Describe this scientific figure.", "What does the figure show?")
    return [[str(folder / r.image), questions[n % len(questions)]] for n, r in enumerate(records[:count])]


def answer_stream(engine: Engine, image: Image.Image | None, question: str, max_tokens: int):
    """Yield the answer as it grows (a generator Gradio streams to the page)."""
    question = (question or "").strip()
    if not question:
        yield "Ask a question about the figure."
        return
    if IMAGE_PLACEHOLDER in question:
        yield f"The question may not contain {IMAGE_PLACEHOLDER}."
        return
    pieces: queue.Queue[str] = queue.Queue()
    text = f"{IMAGE_PLACEHOLDER}\n{question}" if image is not None else question
    request = Request(turns=[("human", text)], image=image.convert("RGB") if image is not None else None,
                      max_tokens=int(max_tokens), on_text=pieces.put)
    try:
        future = engine.submit(request)
    except (NotReady, TooLong) as error:
        yield f"⚠ {error}"
        return
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


def build_ui(engine: Engine, default_max_tokens: int = 128, max_tokens_limit: int = 512) -> gr.Blocks:
    examples_dir = Path(tempfile.mkdtemp(prefix="scitune-ui-"))
    with gr.Blocks(title="SciTune") as ui:
        gr.Markdown(f"## SciTune · `{engine.name}`\nUpload or paste a scientific figure and ask about it. "
                    f"Decoding: greedy (deterministic); answers stream as they are generated.")
        with gr.Row():
            with gr.Column():
                image = gr.Image(type="pil", label="Figure", sources=["upload", "clipboard"], elem_id="figure")
                question = gr.Textbox(label="Question", placeholder="Which type of figure is this?",
                                      elem_id="question")
                max_tokens = gr.Slider(1, max_tokens_limit, value=min(default_max_tokens, max_tokens_limit), step=1,
                                       label="max new tokens")
                ask = gr.Button("Ask", variant="primary", elem_id="ask")
            with gr.Column():
                answer = gr.Textbox(label="Answer", lines=12, elem_id="answer", interactive=False)
        gr.Examples(example_figures(examples_dir), inputs=[image, question], label="Examples (demo figures)")

        def respond(figure, text, limit):
            yield from answer_stream(engine, figure, text, limit)

        ask.click(respond, [image, question, max_tokens], answer)
        question.submit(respond, [image, question, max_tokens], answer)
    return ui
