"""The HTTP service: ``create_app(settings)`` and one router per resource (see ``docs/serving.md``)."""

from tastemaker.serving.app import create_app

__all__ = ["create_app"]
