"""What the engine raises when it cannot answer; ``serving/errors.py`` maps each to its HTTP status."""

from __future__ import annotations


class UnknownItem(LookupError):
    """The item a request names is not known to the model that would answer it (HTTP: 404 ``unknown_track``,
    or the ``code`` given: ``unknown_artist``)."""

    def __init__(self, message: str, code: str = "unknown_track") -> None:
        super().__init__(message)
        self.code = code


class ModelUnavailable(RuntimeError):
    """The request needs a model that is not loaded and has no fallback (HTTP: 503 ``model_unavailable``)."""
