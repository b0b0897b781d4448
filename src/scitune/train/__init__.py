"""Two-stage training on transformers.Trainer: data encoding, freezing, the stage runner."""
