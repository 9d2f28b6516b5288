"""The whole exception tree. Caller mistakes raise ValueError/TypeError instead."""

from __future__ import annotations


class TastemakerError(Exception):
    """Base class of every error tastemaker raises on purpose."""


class StoreError(TastemakerError):
    """The store cannot be opened, read or written (wrong URL, corrupt manifest, lock trouble)."""


class ImportFormatError(TastemakerError):
    """An input cannot be imported at all (unknown format, missing file, wrong layout).

    Single bad records never raise this: they are quarantined with their reason.
    """


class NotFittedError(TastemakerError):
    """A model was used before ``fit`` or ``load``."""


class MissingDependencyError(TastemakerError, ImportError):
    """An optional dependency is needed; the message carries the exact install command."""
