"""The operator's dashboard at ``/ui`` (``pages.py`` says what each page shows and how it is protected)."""

from pathlib import Path

from tastemaker.serving.dashboard.pages import router

#: the packaged stylesheet, served at ``/ui/static``
STATIC = Path(__file__).parent / "static"

__all__ = ["STATIC", "router"]
