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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and glibc's allocator")
@pytest.mark.parametrize("tuned", [True, False])
def test_a_tuned_process_unmaps_big_blocks_when_they_are_freed(tuned: bool) -> None:
    import subprocess

    # freeing one 8 MiB block raises glibc's default threshold to 8 MiB: the 512 KiB blocks after it go to
    # the arena, where what is freed stays resident; a tuned process maps each one apart and unmaps it
    script = f"""
import ctypes
from tastemaker.serving import heap
libc = ctypes.CDLL("libc.so.6"); libc.malloc.restype = ctypes.c_void_p; libc.free.argtypes = [ctypes.c_void_p]
def rss():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS")) // 1024
if {tuned}:
    assert heap.tune()
libc.free(libc.malloc(8 << 20))
blocks = [libc.malloc(512 << 10) for _ in range(600)]
for b in blocks:
    ctypes.memset(b, 1, 512 << 10)
before = rss()
for i, b in enumerate(blocks):
    if i % 16:
        libc.free(b)
print(before - rss())
"""
    freed = int(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout)
    if tuned:
        assert freed > 250  # of ~281 MiB freed
    else:
        assert freed < 50  # kept in the arena for reuse
