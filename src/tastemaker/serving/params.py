"""Query parameters several routes share, declared once: how many items, the radio session, the listener shown."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from tastemaker.domain import MAX_USER_ID, USER_ID_PATTERN
from tastemaker.serving.schemas import MAX_ITEMS, MAX_SESSION, Id

#: how many items a list holds
Count = Annotated[int, Query(ge=1, le=MAX_ITEMS)]
#: the radio session's tracks played through, and skipped (ids, as a player sends them)
Played = Annotated[list[Id] | None, Query(max_length=MAX_SESSION, description="A session track played through "
                                          "(repeatable)")]
Skipped = Annotated[list[Id] | None, Query(max_length=MAX_SESSION, description="A session track skipped "
                                           "(repeatable)")]
#: the listener a list is shown to: its items are logged as their impressions
ShownTo = Annotated[str | None, Query(min_length=1, max_length=MAX_USER_ID, pattern=USER_ID_PATTERN,
                                      description="The listener shown the list: logs it as impressions")]
