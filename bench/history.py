"""History's cost: the write per pass and the database a year of history makes.

    .venv/bin/python bench/history.py [--hosts 200] [--passes 30]

1. Write per pass: a store that already holds a day of raw history for N hosts; time
   ``record_samples`` + ``record_usage`` + ``host_histories`` (what each pass adds to settle) over
   ``--passes`` passes, and the hourly ``roll_up`` on its own.  Medians.
2. Size: the steady state of the default retention for N hosts polled every 60 s for a year (48 h raw,
   14 d of 5-minute, a year of hourly rows; a year of hourly usage totals for busy agents), vacuumed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fleetwatch.errors import Stage  # noqa: E402
from fleetwatch.findings import PollFailure  # noqa: E402
from fleetwatch.history.model import HistorySettings, Sample, Usage  # noqa: E402
from fleetwatch.history.store import host_histories, record_samples, record_usage, roll_up  # noqa: E402
from fleetwatch.store import Store  # noqa: E402
from tests.unit.builders import facts, retained_year, snapshot  # noqa: E402

NOW = 1_800_000_000.0


def samples(hosts: int, at: float) -> list[Sample]:
    """One pass: every host answered but one in fifty."""
    out = []
    for h in range(hosts):
        name = f"pi-{h:03d}"
        if h % 50 == 49:
            out.append(Sample.of(name, PollFailure(Stage.CONNECT, "refused", latency_s=0.01), at))
        else:
            snap = snapshot(f=facts(disk=40 + (h % 50) + random.random(), time=at), host=name, received_at=at)
            out.append(Sample.of(name, snap, at))
    return out


def usages(hosts: int, at: float, rnd: int) -> list[Usage]:
    return [
        Usage(f"pi-{h:03d}", rnd, at - 5, "", "claude", "m", 0.8, 40000, 9000, 300000, 30, True, 480.0)
        for h in range(hosts)
    ]


def write_per_pass(hosts: int, passes: int) -> None:
    keep = HistorySettings(timezone="UTC")
    with tempfile.TemporaryDirectory() as d:
        store = Store.open(Path(d))
        conn = store.connection
        with store.transaction():
            for m in range(24 * 60, 0, -1):  # a day of raw history first
                record_samples(conn, samples(hosts, NOW - 60 * m))
        timings, rollups = [], []
        names = [f"pi-{h:03d}" for h in range(hosts)]
        for p in range(passes):
            at = NOW + 60 * p
            batch, rounds = (
                samples(hosts, at),
                usages(hosts, at, p) if p % 8 == 0 else [],
            )  # a round / 8 passes
            started = time.perf_counter()
            with store.transaction():
                record_samples(conn, batch)
                record_usage(conn, rounds, at, keep)
                written = time.perf_counter()
                host_histories(conn, dict.fromkeys(names, 3 * 3600.0), at, keep)
            timings.append((written - started, time.perf_counter() - written))
        for _ in range(3):
            started = time.perf_counter()
            roll_up(conn, NOW + 3 * 86400, keep)
            rollups.append(time.perf_counter() - started)
        store.close()
    write = statistics.median(w for w, _ in timings)
    read = statistics.median(r for _, r in timings)
    print(f"write per pass, {hosts} hosts: {write * 1000:.1f} ms ({write / hosts * 1e6:.0f} µs per host)")
    print(f"recent history summary per pass for the detectors, {hosts} hosts: {read * 1000:.1f} ms")
    print(f"hourly rollup of a day of raw history, {hosts} hosts: {statistics.median(rollups) * 1000:.0f} ms")


def year_size(hosts: int) -> None:
    keep = HistorySettings()
    with tempfile.TemporaryDirectory() as d:
        store = Store.open(Path(d))
        conn = store.connection
        with store.transaction():
            for h in range(hosts):
                host = f"pi-{h:03d}"
                rows = retained_year(host, keep, NOW)
                conn.executemany(f"INSERT INTO samples VALUES ({','.join('?' * 16)})", rows)
                hourly = [
                    (host, int(NOW - 3600 * i), 7, 7, 5.6, 280000, 63000, 2100000, 210, 3360.0)
                    for i in range(8784)
                ]
                conn.executemany("INSERT INTO usage_hourly VALUES (?,?,?,?,?,?,?,?,?,?)", hourly)
        conn.execute("VACUUM")
        store.close()
        size = (Path(d) / "state.db").stat().st_size
    print(
        f"a year of history, {hosts} hosts at 60 s: {size / 1e6:.0f} MB "
        f"({size / hosts / 1e6:.2f} MB per host, samples and hourly usage totals)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--passes", type=int, default=30)
    args = parser.parse_args()
    random.seed(1)
    write_per_pass(args.hosts, args.passes)
    year_size(args.hosts)


if __name__ == "__main__":
    main()
