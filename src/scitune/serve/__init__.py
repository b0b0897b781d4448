"""Serving a trained model: the batching engine, the OpenAI-compatible API, the web UI, the terminal chat."""
