"""Forgetting a listener everywhere the server keeps them (``DELETE /v1/users/{id}``).

In order, each step durable before the next:

1. their impressions still in memory are dropped, and flushing is held off until step 2 is done,
   so none of them can reach the store after it;
2. the store forgets them, then the server's in-memory listening drops them (:meth:`~tastemaker.store.lake.LakeStore.forget_user`): their events
   (listening and logged impressions), their ``users`` row (onboarding picks, country), the
   ``edges`` naming them, their quarantined records; and it keeps a tombstone (a hash of the id
   and the store version);
3. their precomputed Discover Weekly list is removed from the batch files and the server re-reads
   them.

4. every model version not in use that learnt from them is deleted (:func:`~tastemaker.candidates.registry.prune`).
   The version in use still holds their factors until its model's next version is registered, which
   deletes it; the server does not use them meanwhile (the tombstone is newer than the model's store
   version), so they get the cold-start list. From the forget on, the store refuses every row naming
   them (a re-sent batch, a re-import, an impression) until ``tastemaker unforget``.
"""

from __future__ import annotations

from dataclasses import dataclass

from tastemaker.candidates.registry import prune
from tastemaker.engine import precomputed
from tastemaker.serving.reload import Reloader
from tastemaker.serving.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What forgetting a listener removed."""

    user_id: str
    events: int
    profile_rows: int
    edges: int
    quarantined: int
    precomputed_rows: int
    buffered_impressions: int
    store_version: int
    model_versions_removed: list[str]
    model_versions_in_use: list[str]


def forget_listener(rt: Runtime, reloader: Reloader, user_id: str) -> Forgotten:
    """Remove ``user_id`` from the store, the impression buffer and the precomputed lists (blocking)."""
    with rt.impressions.writing:
        buffered = rt.impressions.drop_user(user_id)
        result = rt.store.forget_user(user_id)
        rt.listening.forget(user_id)
    with rt.swap_lock:
        removed = precomputed.forget(reloader.sources.precomputed, user_id)
        models = prune(reloader.sources.models_dir, [user_id])  # versions in use stay until their next version
    if removed:
        reloader.check()  # the batch file changed: swap in the lists without theirs before answering
    return Forgotten(user_id, result.rows.get("events", 0), result.rows.get("users", 0),
                     result.rows.get("edges", 0), result.quarantined, removed, buffered, result.version,
                     models.removed, models.live)
