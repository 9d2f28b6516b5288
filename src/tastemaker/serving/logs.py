"""The server's log, kept free of personal data: no user id, no API key, no client address.

- **No request lines from uvicorn.** Its access log writes the raw path (``/v1/users/<id>/...``),
  the query string and the client's address; ``tastemaker serve`` never turns it on. With
  ``--access-log`` the app writes its own line per request instead (``tastemaker.access``):
  method, route *template*, status, milliseconds and the request id.
- **No exception messages from requests.** A message can quote the request (``KeyError('<user
  id>')``, a value that did not convert), so a traceback logged while a request is being answered
  keeps its frames and exception types and withholds the messages (:class:`WithholdRequestData`).
  Errors of the background tasks (reloads, impression flushes) keep theirs: they name files and
  versions.
- The app's own messages name routes, models, versions and counts, never a listener.

:func:`log_config` is the uvicorn logging configuration that does all this.
"""

from __future__ import annotations

import copy
import logging
import traceback
from contextvars import ContextVar
from types import TracebackType
from typing import Any

#: True while a request is being answered (set by ``errors.ErrorBoundary``; worker threads inherit it)
IN_REQUEST: ContextVar[bool] = ContextVar("tastemaker_in_request", default=False)
ACCESS = "tastemaker.access"


class WithholdRequestData(logging.Filter):
    """A log filter: tracebacks logged while answering a request lose their exception messages."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and IN_REQUEST.get():
            record.exc_text = withheld_traceback(exc)
        return True


def withheld_traceback(exc: BaseException) -> str:
    """``exc``'s traceback (and its causes'), frames and exception types only, no messages."""
    chain: list[tuple[type[BaseException], TracebackType | None]] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 8:
        chain.append((type(seen), seen.__traceback__))
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    parts = []
    for kind, tb in reversed(chain):
        parts.append("Traceback (most recent call last):\n" + "".join(traceback.format_tb(tb))
                     + f"{kind.__module__}.{kind.__qualname__}: (message withheld: it may quote the request)")
    return "\n\nWhich led to:\n\n".join(parts)


def log_config(access_log: bool) -> dict[str, Any]:
    """uvicorn's logging configuration, with the filter on every handler, the app's loggers at INFO on
    stderr, and the app's access lines when ``access_log`` (uvicorn's own access log stays off)."""
    import uvicorn.config

    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["filters"] = {"withhold": {"()": WithholdRequestData}}
    for handler in config["handlers"].values():
        handler["filters"] = ["withhold"]
    config["loggers"]["tastemaker"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    config["loggers"][ACCESS] = {"handlers": ["default"], "level": "INFO" if access_log else "WARNING",
                                 "propagate": False}
    config["root"] = {"handlers": ["default"], "level": "WARNING"}
    return config
