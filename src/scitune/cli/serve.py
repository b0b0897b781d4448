"""People talk to a checkpoint: `scitune serve` (OpenAI-compatible API, optional web UI), `scitune chat`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scitune.cli.apps import app
from scitune.cli.common import Overrides, SystemPrompt, console, existing_checkpoint, setup_logging, user_errors
from scitune.cli.predict import Device, Dtype


@app.command()
@user_errors
def serve(
    model: Annotated[Path, typer.Option(help="A Llava checkpoint folder.")],
    host: Annotated[str, typer.Option(help="Interface to bind; other than 127.0.0.1 only when you mean it.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    ui: Annotated[bool, typer.Option("--ui", help="Also serve the web UI at /ui.")] = False,
    allow_image_dir: Annotated[Path | None, typer.Option(help="Folder whose files may be sent as file:// URLs.")]
    = None,
    overrides: Overrides = None,
    device: Device = "auto",
    dtype: Dtype = "auto",
) -> None:
    """An OpenAI-compatible API (POST /v1/chat/completions, GET /v1/models, GET /health) and, with
    --ui, a web UI, for one checkpoint. Limits and batching: --set max_batch=16 --set max_tokens=512 …
    (fields of ServeConfig)."""
    import uvicorn

    from scitune.config import ServeConfig, apply_overrides
    from scitune.model.build import trained_system_prompt
    from scitune.serve.api import create_app
    from scitune.serve.engine import Engine

    setup_logging(False)
    existing_checkpoint(model)
    settings = {"host": host, "port": port, "allowed_image_dir": allow_image_dir,
                "system_prompt": trained_system_prompt(model)}
    cfg = apply_overrides(ServeConfig, settings, list(overrides or []))
    if cfg.host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"[yellow]warning:[/yellow] listening on {cfg.host}: reachable from other machines")
    engine = Engine(model, cfg.max_batch, cfg.batch_wait_ms, cfg.system_prompt, device=device, dtype=dtype)
    api = create_app(engine, cfg)
    if ui:
        import gradio as gr

        from scitune.serve.ui import build_ui

        api = gr.mount_gradio_app(api, build_ui(engine, 128, cfg.max_tokens), path="/ui")
    console.print(f"serving {model.name} on http://{cfg.host}:{cfg.port}/v1" + (f" · UI http://{cfg.host}:{cfg.port}/ui"
                                                                              if ui else ""))
    uvicorn.run(api, host=cfg.host, port=cfg.port, log_level="warning")


@app.command()
@user_errors
def chat(
    model: Annotated[Path, typer.Option(help="A Llava checkpoint folder.")],
    image: Annotated[Path | None, typer.Option(help="A figure to talk about.", exists=True)] = None,
    max_tokens: Annotated[int, typer.Option(min=1, help="New tokens per answer at most.")] = 256,
    system_prompt: SystemPrompt = None,
    device: Device = "auto",
    dtype: Dtype = "auto",
) -> None:
    """Chat with a checkpoint in the terminal (greedy). Commands: /image PATH, /reset, /quit."""
    from PIL import Image

    from scitune.contracts import IMAGE_PLACEHOLDER
    from scitune.model.build import trained_system_prompt
    from scitune.serve.engine import Engine, Request, TooLong

    setup_logging(False)
    existing_checkpoint(model)
    prompt = trained_system_prompt(model) if system_prompt is None else system_prompt
    engine = Engine(model, max_batch=1, batch_wait_ms=0, system_prompt=prompt, device=device, dtype=dtype)
    with console.status(f"loading {model.name}…"):
        while not engine.wait_ready(0.2) and engine.error is None:  # a failed load never becomes ready
            pass
    if engine.error:
        raise ValueError(engine.error)
    figure = Image.open(image).convert("RGB") if image else None
    turns: list[tuple[str, str]] = []
    console.print(f"[bold]{model.name}[/bold] ready. /image PATH · /reset · /quit" +
                  (f" · figure: {image.name}" if image else ""))
    while True:
        try:
            line = console.input("[bold cyan]you>[/bold cyan] ").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if not line:
            continue
        if line in ("/quit", "/exit"):
            break
        if line == "/reset":
            turns = []
            console.print("[dim](conversation cleared)[/dim]")
            continue
        if line.startswith("/image"):
            path = Path(line.removeprefix("/image").strip())
            try:
                figure, turns = Image.open(path).convert("RGB"), []
                console.print(f"[dim](figure {path.name}; conversation cleared)[/dim]")
            except OSError as error:
                console.print(f"[red]cannot open {path}: {error}[/red]")
            continue
        text = f"{IMAGE_PLACEHOLDER}\n{line}" if figure is not None and not turns else line
        console.print("[bold green]model>[/bold green] ", end="")
        request = Request(turns=[*turns, ("human", text)], image=figure, max_tokens=max_tokens,
                      on_text=lambda piece: console.print(piece, end="", soft_wrap=True, highlight=False,
                                                          markup=False))
        try:
            answer = engine.answer(request)
        except TooLong as error:
            console.print(f"[red]{error}[/red] (/reset to start over)")
            continue
        console.print()
        turns += [("human", text), ("gpt", answer.text)]
