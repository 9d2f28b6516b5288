"""A serving process gives the memory a load freed back to the system (glibc's malloc_trim)."""

from __future__ import annotations

import sys

import pytest

from tastemaker.serving import heap


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and glibc's allocator")
def test_freed_memory_in_the_middle_of_the_heap_goes_back() -> None:
    # 64 KiB blocks sit in the heap (under the allocator's mmap threshold); keeping every 16th pins
    # the heap's top, so without a trim the freed blocks between stay resident
    blocks = [bytearray(b"x" * 65_536) for _ in range(6_000)]
    kept = blocks[::16]
    del blocks
    before = _rss_mib()
    assert heap.give_back()
    after = _rss_mib()
    assert before - after > 150  # of ~350 MiB freed between the kept blocks
    assert all(len(b) == 65_536 for b in kept)
