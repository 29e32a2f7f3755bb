#!/usr/bin/env python3
"""What this machine charges to touch memory for the first time.

Maps GIB anonymous GiB one at a time and writes one byte per 4 KiB page,
timing each GiB. On bare metal every GiB costs about the same (the kernel
zeroes each page). A virtual machine whose host hands memory back lazily
(a balloon with free page reporting, as here) charges much more for pages
the host does not back at that moment: the guest sees it as slow page
faults. A million connections take ~10 GiB of fresh kernel memory (5 KB
per socket, two sockets each), so that charge lands on the ramp.

    python3 bench/load/fresh_pages.py 14    # GiB; needs that much free
"""
import mmap
import sys
import time

GIB = 1 << 30
PAGE = 4096
count = int(sys.argv[1]) if len(sys.argv) > 1 else 12
held = []
for i in range(count):
    m = mmap.mmap(-1, GIB, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if hasattr(mmap, "MADV_NOHUGEPAGE"):
        # One fault per 4 KiB page, whatever transparent huge pages say.
        m.madvise(mmap.MADV_NOHUGEPAGE)
    start = time.perf_counter()
    for offset in range(0, GIB, PAGE):
        m[offset] = 1
    took = time.perf_counter() - start
    held.append(m)  # kept until the end, so each GiB is fresh memory
    print(f"GiB {i + 1}: {took * 1000:,.0f} ms, {took / (GIB // PAGE) * 1e6:.2f} us per page", flush=True)
