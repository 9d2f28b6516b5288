"""``python -m tastemaker`` is the ``tastemaker`` command."""

from tastemaker.cli.main import app

app()
