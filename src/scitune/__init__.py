"""SciTune: scientific multimodal instruction tuning (see DESIGN.md for the data flow)."""

__version__ = "0.1.0"
