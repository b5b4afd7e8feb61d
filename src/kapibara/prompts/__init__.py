"""Structured prompts and the prompt templates (YAML package data, zh and en)."""

from kapibara.prompts.loader import load_template, render_template, template_names

__all__ = ["load_template", "render_template", "template_names"]
