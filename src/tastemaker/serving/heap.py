"""A serving process's heap after a load: out of the collector's walks, and given back to the system.

Loading a model version allocates and frees hundreds of megabytes of temporaries (arrays read from
disk, id maps, frames). The C allocator keeps freed memory in its arenas for reuse rather than
returning it, and with requests and reloads on several threads each thread's arena keeps its own.
Measured by hand on the 20,000-listener soak world (``bench/soak.py``'s): twelve forced reloads with
requests between them grew one process by 191 MB; with :func:`give_back` after each, by 58 MB. The cost is one pass over
the arenas (well under a millisecond to a few) once per load, and once a minute in the background
(:func:`give_back_every`: what compactions, catch-ups and bursts of requests on many threads freed),
never on a request's path.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging

log = logging.getLogger("tastemaker.serving")


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        lib = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return lib if lib is not None and hasattr(lib, "malloc_trim") else None  # glibc only


_LIBC = _libc()


#: ``mallopt`` parameters (glibc's malloc.h)
_M_MMAP_THRESHOLD, _M_ARENA_MAX = -3, -8
#: arenas for the whole process: one per thread (glibc's default, up to 8 per core) keeps each request
#: thread's freed fragments apart, where no other thread can reuse them
ARENAS = 2
#: blocks from this size up are mapped on their own and unmapped when freed (glibc's default threshold
#: rises to the largest block freed, up to 32 MiB, so a request's big temporaries stay in the arenas)
MMAP_THRESHOLD = 256 * 1024


def tune() -> bool:
    """Set the C allocator for a long-lived serving process (glibc's ``mallopt``): at most :data:`ARENAS`
    arenas, and blocks of :data:`MMAP_THRESHOLD` or more mapped apart. Measured by hand on the soak world
    (``bench/soak.py``'s), one process serving 12 threads of mixed requests: 508 -> 351 MiB anonymous after
    warming up, and +27 instead of +40 MiB over the next 15,000 requests (arenas alone: 366 MiB, +30).
    Call before the process starts its threads; False where the C library is not glibc."""
    if _LIBC is None or not hasattr(_LIBC, "mallopt"):
        return False
    return bool(_LIBC.mallopt(_M_ARENA_MAX, ARENAS)) and bool(_LIBC.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def give_back() -> bool:
    """Return the C allocator's free memory to the system (glibc's ``malloc_trim``); False where the
    C library has no such call (musl, macOS): nothing to do there."""
    if _LIBC is None:
        return False
    _LIBC.malloc_trim(0)
    return True


def settle(unfreeze: bool = False) -> None:
    """After a load: collect (``unfreeze``: also what a previous :func:`settle` froze, i.e. the set a
    swap just replaced), move what remains out of the collector's reach (a full collection that walks
    the millions of objects a load creates pauses every request in flight), and give the freed memory
    back to the system."""
    if unfreeze:
        gc.unfreeze()
    gc.collect()
    gc.freeze()
    give_back()


async def give_back_every(seconds: float = 60.0) -> None:
    """Call :func:`give_back` every ``seconds`` in a worker thread until cancelled (a server's background task)."""
    while True:
        await asyncio.sleep(seconds)
        try:
            if not await asyncio.to_thread(give_back):
                return  # not glibc: nothing to give back, ever
        except Exception as exc:  # never fatal: memory is only held longer
            log.warning("giving memory back failed: %s", exc)
