"""Placeholder while the command is written."""
