"""The API's allocator setting: a freed half-megabyte body is reused, not unmapped."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

# Builds and frees twenty bodies the size of a 1000-item feed page, and a copy of each (as
# the API does per request: the body and the server's send buffer), and prints the minor
# page faults per body after the first. By default glibc returns the freed top of its heap
# to the system once it exceeds twice the largest block it has unmapped, so each request
# maps its half megabyte again.
PROBE = """
import resource, sys
from syncline.allocator import keep_freed_memory
if sys.argv[1] == "tuned":
    assert keep_freed_memory()
parts = [b"x" * 500 for _ in range(1100)]
body, copy = b"".join(parts), b"".join(parts); del body, copy
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    body, copy = b"".join(parts), b"".join(parts); del body, copy
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""


def faults_per_body(mode: str) -> float:
    # glibc's own MALLOC_* variables would tune the default process too.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True, env=env
    ).stdout
    return float(out)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_a_freed_page_body_is_reused_without_page_faults() -> None:
    assert faults_per_body("default") > 50  # glibc unmaps it: about one fault per 4 KiB
    assert faults_per_body("tuned") < 5
