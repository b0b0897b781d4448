"""`scitune run`: a recipe's steps over one run folder (sources → curation → model → train/evaluate → report)."""
