"""`make bench`: every scenario in one run, on one fresh database, printed as ratios."""

from __future__ import annotations

import importlib
import os
import sys
import time

from bench.harness import Figure, bench_env

# Each module exposes `run(env) -> list[Figure]`.
SCENARIOS = [
    "bench.writes",
    "bench.rate_limit",
    "bench.auth",
    "bench.catchup",
    "bench.feed",
    "bench.longpoll",
    "bench.webhooks",
    "bench.webhook_fairness",
    "bench.cost",
    "bench.audit",
    "bench.read_your_writes",
    "bench.portal",
    "bench.portal_pages",
]
# Run only when named (`python -m bench storage`): each takes many minutes.
ON_REQUEST = ["bench.storage"]


def main() -> int:
    only = set(sys.argv[1:])
    figures: list[Figure] = []
    with bench_env() as env:
        print(f"database: {env.database_url.split('@')[-1]}  cores: {os.cpu_count()}", flush=True)
        for name in SCENARIOS + ON_REQUEST:
            if (only or name in ON_REQUEST) and name.split(".")[-1] not in only:
                continue
            started = time.monotonic()
            print(f"== {name}", flush=True)
            module = importlib.import_module(name)
            results = module.run(env)
            env.stop_all()
            for figure in results:
                print(figure.line(), flush=True)
            figures += results
            print(f"   ({time.monotonic() - started:.0f} s)", flush=True)
    print("\nsummary")
    for figure in figures:
        ratio = f"ratio {figure.ratio:.3f}" if figure.ratio is not None else ""
        print(f"  {figure.name:<48} {figure.value:>12,.1f} {figure.unit}  {ratio} {figure.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
