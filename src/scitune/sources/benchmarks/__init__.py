"""Readers for the benchmarks a scientific VLM is judged on: MathVista, ChartQA, AI2D, MMMU, SciFIBench.

Each reader takes the release users download (the Hugging Face parquet files, or the official JSON
with its image folder) and returns a `BenchmarkSet`: typed items by id, the folder their image paths
are relative to, and every record that could not be read with the reason. JSON releases keep their
images where they are; parquet releases carry image bytes, which are written once under their SHA-1
(the generation path opens images from files).
"""

from scitune.sources.benchmarks.common import BenchmarkSet

__all__ = ["BenchmarkSet"]
