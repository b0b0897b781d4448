"""Readers that yield records (FigureRecord, Problem) from corpora on disk or generated ones."""
