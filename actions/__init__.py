"""The rasa-sdk action server: thin actions over the domain code in bot/."""

from actions import faq, laws, triage  # noqa: F401 - registers the actions
