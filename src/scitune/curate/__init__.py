"""Records → instructions (LLaVA conversation JSONL with provenance)."""
