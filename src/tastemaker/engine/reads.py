"""Reads of the live store on the request path.

Readers take no lock; forgetting a listener is the one writer that deletes segments, so a read
that took the manifest just before a forget can find one of its files gone. Such a read is
simply made again: the second one takes the new manifest.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl


def collect(frame: Callable[[], pl.LazyFrame]) -> pl.DataFrame:
    """``frame()`` collected, built and collected once more if a segment it listed was deleted meanwhile.

    >>> collect(lambda: store.events().filter(pl.col("user_id") == "u1"))  # doctest: +SKIP
    """
    try:
        return frame().collect()
    except FileNotFoundError:
        return frame().collect()
