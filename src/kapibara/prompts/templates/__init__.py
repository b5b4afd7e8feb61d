"""Prompt template files (YAML package data). See docs/prompts.md."""
