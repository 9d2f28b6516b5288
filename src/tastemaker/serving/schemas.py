"""What goes over the wire: pydantic models of every request and response body (the OpenAPI document)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tastemaker.domain import MAX_USER_ID, USER_ID_PATTERN, EventType, ItemKind

#: most events one POST may carry, and most bytes its body may have
MAX_EVENTS = 10_000
MAX_BODY_BYTES = 8 << 20
#: most items one list may hold
MAX_ITEMS = 500
#: most session tracks (played, and skipped) one radio request may name
MAX_SESSION = 100
#: an id in a request: a listener, a track, an artist (or an artist's name)
Id = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class EventIn(BaseModel):
    """One listening event as a client sends it: the store's ``events`` table minus the server's fields.

    Records are checked one by one: a record that breaks these rules is quarantined with its reason
    (and reported in ``rejected``) while the rest of its batch is stored. Unknown fields are ignored,
    as the table importer ignores unknown columns.
    """

    model_config = ConfigDict(extra="allow", use_enum_values=True)

    user_id: str = Field(min_length=1, max_length=MAX_USER_ID, pattern=USER_ID_PATTERN, examples=["u1"])
    ts: str | int | float = Field(description="When it happened: ISO-8601 (Z or offset; none means UTC) "
                                  "or Unix epoch seconds or milliseconds", examples=["2024-05-01T10:00:00Z"])
    type: EventType = Field(examples=["play"])
    item_id: str = Field(min_length=1, examples=["tr:0123456789abcdef"])
    item_kind: ItemKind | None = Field(None, description="Default track")
    artist_id: str | None = None
    ms_played: int | None = Field(None, ge=0, le=24 * 3600 * 1000)
    duration_ms: int | None = None
    count: int | None = Field(None, ge=1, description="Aggregated plays; default 1")
    value: float | None = Field(None, description="A rating's value")
    skipped: bool | None = Field(None, description="When absent, a play under 30 s counts as a skip")
    position: int | None = None
    surface: str | None = None
    session_id: str | None = None
    platform: str | None = None
    country: str | None = None
    shuffle: bool | None = None
    reason_start: str | None = None
    reason_end: str | None = None
    offline: bool | None = None
    playlist_id: str | None = None
    tag: str | None = None


class EventBatch(BaseModel):
    """The body of ``POST /v1/events``."""

    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS)


class Envelope(BaseModel):
    """What is checked of a batch as a whole (its records are checked one by one, see :class:`EventIn`)."""

    model_config = ConfigDict(extra="forbid")

    events: list[Any] = Field(min_length=1, max_length=MAX_EVENTS)


class RejectedOut(BaseModel):
    """A quarantined record: its 0-based index in the batch, and why."""

    index: int
    reason: str


class IngestOut(BaseModel):
    """What became of a batch: ``received == accepted + duplicates + quarantined + forgotten``; all of it
    is on disk but ``forgotten``, the events of listeners who were forgotten, which are refused and kept
    nowhere (until ``tastemaker unforget``)."""

    received: int
    accepted: int
    duplicates: int
    quarantined: int
    forgotten: int = 0
    rejected: list[RejectedOut]


class ServedBy(BaseModel):
    """Who answered: the personal ``model``, the ``precomputed`` batch list or the ``popularity``
    fallback, the version that answered, and why the personal model did not."""

    level: Literal["model", "precomputed", "popularity"]
    model: str
    version: str | None
    cause: str | None = Field(None, description="Why the personal model did not answer: not_loaded, "
                              "unknown_user, forgotten, no_item_vectors, no_catalog, empty or error")
    ranker: str | None = Field(None, description="The learning-to-rank model that ordered the list "
                               "(ranker@v0001); null when the personal model's own order stands")
    variant: str | None = Field(None, description="experiment:arm when an experiment the server runs decided "
                                "this list (`serve --experiment`); null otherwise")


class ItemOut(BaseModel):
    """One served item (a track, or on home a playlist card), with the reason it is there."""

    position: int
    item_id: str
    kind: str
    title: str
    subtitle: str | None
    score: float | None
    reason: str
    because: str | None = Field(description="The played track the reason names, if it names one")
    group: str | None = Field(description="The Daily Mix or home shelf of the item")
    group_title: str | None
    propensity: float | None = Field(None, description="The probability the policy had of showing this item "
                                     "in this position (for-you; below 1 with `serve --explore`); null on "
                                     "surfaces that do not log one")


class RecommendationsOut(BaseModel):
    """A surface for a listener."""

    user_id: str
    surface: str
    request_id: str = Field(description="Names this answer; its impressions carry it as session_id")
    served_by: ServedBy
    items: list[ItemOut]


class SimilarOut(BaseModel):
    """Tracks like one track."""

    track_id: str = Field(description="The track's id (the request may name it)")
    title: str | None = Field(None, description="The track as a person reads it: \"Name by Artist\"")
    note: str | None = Field(None, description="How a name in the request was taken, when it was not exact")
    request_id: str = Field(description="Names this answer; its impressions carry it as session_id")
    served_by: ServedBy
    items: list[ItemOut]


class SimilarArtistsOut(BaseModel):
    """Artists like one artist (items of kind ``artist``)."""

    artist_id: str = Field(description="The artist's id (the request may name them)")
    title: str | None = Field(None, description="The artist's name")
    note: str | None = Field(None, description="How a name in the request was taken, when it was not exact")
    request_id: str = Field(description="Names this answer; its impressions carry it as session_id")
    served_by: ServedBy
    items: list[ItemOut]


class RadioOut(BaseModel):
    """The next tracks of a radio."""

    seed: str = Field(description="The id of the track or artist the radio starts from")
    seed_kind: Literal["track", "artist"] = "track"
    title: str | None = Field(None, description="The radio's name: the seed track's \"Name by Artist\", or "
                              "the artist's name")
    note: str | None = Field(None, description="How a name in the request was taken, when it was not exact")
    request_id: str = Field(description="Names this answer; its impressions carry it as session_id")
    served_by: ServedBy
    items: list[ItemOut]


class MatchOut(BaseModel):
    """One catalogue item a name matches."""

    kind: Literal["track", "artist", "show"]
    id: str
    name: str
    by: str | None = Field(description="A track's artist, a show's publisher")
    listeners: int = Field(description="Distinct listeners who played it")
    score: float = Field(description="0-100: 100 an exact name (case, accents and punctuation aside)")
    exact: bool


class SearchOut(BaseModel):
    """What a name matches in the catalogue, best first."""

    query: str
    kind: str | None
    items: list[MatchOut]


class OnboardingIn(BaseModel):
    """The body of ``POST /v1/users``: a new listener and the artists they picked."""

    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, max_length=MAX_USER_ID, pattern=USER_ID_PATTERN, examples=["u-new"])
    artists: list[Id] = Field(min_length=1, max_length=50, description="Artist ids, or names as the catalog "
                              "spells them (case-insensitive), in the listener's order",
                              examples=[["tm:artist:0001"]])
    country: str | None = Field(None, min_length=2, max_length=8, examples=["SE"])
    n: int = Field(10, ge=1, le=MAX_ITEMS, description="Length of the first list")


class OnboardingOut(BaseModel):
    """The stored listener and their first list."""

    user_id: str
    created: bool = Field(description="False when the listener was already in the users table (picks replaced)")
    artists: list[str] = Field(description="The picks as artist ids")
    country: str | None
    recommendations: RecommendationsOut


class ForgottenOut(BaseModel):
    """What ``DELETE /v1/users/{id}`` removed. Deleting an unknown listener removes nothing and is a 200."""

    user_id: str
    events: int = Field(description="Events (listening and impressions) removed from the store")
    profile_rows: int = Field(description="Rows of the users table (onboarding picks, country)")
    edges: int
    quarantined: int = Field(description="Quarantined records naming the listener")
    precomputed_rows: int = Field(description="Rows of their precomputed Discover Weekly list")
    buffered_impressions: int = Field(description="Impressions still in memory, dropped before flushing")
    store_version: int
    model_versions_removed: list[str] = Field(default_factory=list, description="Model versions not in use "
                                              "that held the listener, deleted (name/version)")
    model_versions_in_use: list[str] = Field(default_factory=list, description="Versions in use that hold "
                                             "them: not used for them, deleted when their model is retrained")


class ReloadOut(BaseModel):
    """What a reload check did: whether a new set answers now, and the versions before and after."""

    changed: bool
    before: dict[str, str | None]
    after: dict[str, str | None]
    errors: dict[str, str | None]


class HealthOut(BaseModel):
    """The process is up."""

    status: Literal["ok"]


class ModelStatus(BaseModel):
    """One role's model."""

    model: str
    version: str | None
    loaded: bool
    error: str | None


class ReadyOut(BaseModel):
    """Whether the server can answer: the store opens and at least the fallback model is loaded.

    ``models`` has the roles ``personal``, ``fallback``, ``precomputed`` (the batch lists) and, when
    one is trained, ``ranker``.
    """

    ready: bool
    store: str = Field(description="The store's kind (parquet), not where it is")
    store_version: int | None
    models: dict[str, ModelStatus]
    process: str = Field(description="A random name of the server process that answered (one of several "
                         "under `serve --workers N`); not its pid")
    behind: bool | None = Field(None, description="Whether the store holds writes of other processes this one "
                                "has not absorbed yet (its background follower is at work); null: not followed")
