"""Forgetting a listener on disk, everywhere a workspace keeps them: ``tastemaker forget`` and the server's
``DELETE /v1/users/{id}`` both end here.

1. the store forgets them (:meth:`~tastemaker.store.lake.LakeStore.forget_user`): their events, ``users``
   row, ``edges``, quarantined records; it keeps a tombstone (a hash of the id), and from then on
   refuses every row naming them, from an import, the HTTP API or the server's impression log, until
   ``tastemaker unforget``;
2. every playlist file under the workspace's ``playlists/`` loses their rows (Parquet with a
   ``user_id`` column, JSPF lines titled for them);
3. every model version that holds their id and is not in use is deleted; a version in use that holds
   them is listed, and deleted when its model's next version is registered
   (:func:`~tastemaker.candidates.registry.prune`). Until then nothing is personalised for them from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from tastemaker.candidates.registry import Pruned, prune
from tastemaker.engine import precomputed


@dataclass(frozen=True, slots=True)
class Erased:
    """What forgetting a listener removed from a workspace."""

    user_id: str
    rows: dict[str, int]
    quarantined: int
    store_version: int
    playlist_rows: int
    models: Pruned = field(default_factory=lambda: Pruned([], []))

    def as_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "rows": self.rows, "quarantined": self.quarantined,
                "store_version": self.store_version, "playlist_rows": self.playlist_rows,
                "model_versions_removed": self.models.removed, "model_versions_in_use": self.models.live}


def erase(store: Any, workspace: Path, models_dir: Path, user_id: str) -> Erased:
    """Forget ``user_id`` in ``store``, in ``workspace``'s playlists and in the registry ``models_dir``."""
    result = store.forget_user(user_id)
    playlists = forget_playlists(workspace / "playlists", user_id)
    return Erased(user_id, result.rows, result.quarantined, result.version, playlists, prune(models_dir, [user_id]))


def forget_playlists(folder: Path, user_id: str) -> int:
    """Remove ``user_id``'s rows from every playlist file under ``folder``; returns the Parquet rows removed."""
    if not folder.is_dir():
        return 0
    removed = 0
    for path in sorted(folder.rglob("*.parquet")):
        if "user_id" in pl.read_parquet_schema(path):
            removed += precomputed.forget(path, user_id)
    return removed
