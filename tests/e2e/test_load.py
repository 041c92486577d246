"""A class on one server (tests/load/simulate_class.py): N browser sessions each train a toy model to 1,000 steps.

The default suite runs 6 sessions, two jobs at a time (so runs train side by side and others wait in line;
about 75 s on this 2-core machine); `-m slow` runs the acceptance's 20 on the server's own default (one job
at a time on 2 cores). Asserted: no exception on any page or in the server's log, every session opens within
20 s, /_stcore/health p95 < 500 ms throughout, peak server RSS < 4 GB, the place in line shown, every session
finishes, and every final NLL equals its seed's solo run (to 1e-6; on the CPU it is the same to the last bit).
The observer's frame rate and the browser's CPU share are measured and printed (they depend on the machine),
with the rest in .pytest_cache/load-<N>.json.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e.conftest import CHROMIUM

ROOT = Path(__file__).resolve().parents[2]


def check_class(n: int, **kw) -> dict:
    if not Path(CHROMIUM).exists() and os.environ.get("CI") != "true":
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    from tests.load.simulate_class import simulate

    # its own thread: the sync Playwright fixtures of the tests before may hold this thread's event loop
    with ThreadPoolExecutor(max_workers=1) as pool:
        r = pool.submit(simulate, n, **kw).result()
    (ROOT / ".pytest_cache" / f"load-{n}.json").write_text(json.dumps(r, indent=2))
    summary = {k: v for k, v in r.items() if k not in ("per_session", "runs")}
    print(f"\n{n} sessions:", json.dumps(summary))
    assert r["exceptions"] == [] and r["server_tracebacks"] == 0, summary
    assert r["open_s_max"] < 20, summary
    assert r["health_p95_ms"] < 500 and r["health_failures"] == 0, summary
    assert r["server_peak_rss_mb"] < 4096, summary
    assert r["finished"] == n and r["runs_finished"] == n, r["per_session"]
    assert r["nll_max_abs_diff"] is not None and r["nll_max_abs_diff"] <= 1e-6, r["runs"]
    if n > r["max_jobs"]:
        assert r["largest_place_shown"] >= 1, r["per_session"]
    assert r["observer_fps"] is not None or r.get("steady_fps") is not None, summary  # a live view was measured
    return r


@pytest.mark.e2e
def test_six_sessions_train_side_by_side_with_the_same_numbers():
    check_class(6, seeds=3, max_jobs=2)


@pytest.mark.e2e
@pytest.mark.slow
def test_twenty_sessions_one_server():
    check_class(20, seeds=5)
