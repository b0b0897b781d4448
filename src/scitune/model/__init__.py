"""Assembling the Llava model and processor from a vision encoder and a causal LM."""
