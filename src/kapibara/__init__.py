"""kapibara: vertical-domain LLM agents that are accurate and fast on small local models."""

__version__ = "0.1.0"
