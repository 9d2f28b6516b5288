"""``POST /v1/admin/models/reload``: load a newly trained or rolled-back model version now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from tastemaker.serving.auth import AUTH_RESPONSES, requires
from tastemaker.serving.errors import ERROR_RESPONSES
from tastemaker.serving.reload import Reloader, reloader
from tastemaker.serving.responses import ORJSONResponse
from tastemaker.serving.schemas import ReloadOut

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses={**ERROR_RESPONSES, **AUTH_RESPONSES})


@router.post("/models/reload", response_model=ReloadOut, dependencies=[requires("admin")])
async def reload_models(
    reload: Annotated[Reloader, Depends(reloader)],
    force: Annotated[bool, Query(description="Reload even when the registry names the versions loaded")]
    = False,
) -> ORJSONResponse:
    """Check the registry's latest versions (and the batch lists) now; swap in what changed.

    The server also checks by itself every few seconds; this answers once the new set (if any)
    is serving. Requests go on being answered by the old set while the new one loads.
    """
    done = await run_in_threadpool(reload.check, force)
    return ORJSONResponse({"changed": done.changed, "before": done.before, "after": done.after,
                           "errors": done.errors})
