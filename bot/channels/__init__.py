"""Rasa input channels that citizens reach the assistant through (besides REST)."""
