"""Predictions from a checkpoint, scores, and reports."""
