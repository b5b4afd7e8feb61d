"""Structured prompts (one Prompt per language) shipped with kapibara."""
