"""What the runtime companion's recording costs on a flush-heavy async SQLAlchemy workload.

    python benchmarks/runtime_overhead.py                       # SQLite file, 7 rounds
    python benchmarks/runtime_overhead.py --database postgresql --pg-url postgresql+asyncpg://...
    python benchmarks/runtime_overhead.py --python other-venv/bin/python   # another SQLAlchemy

The workload is a request loop of an order service: per request one session, a customer INSERT
flush, an order with three lines INSERT flush, a status UPDATE flush, a narrow refresh, a commit,
then reads of what the commit left expired after a refresh. The dialect's RETURNING flags are off
(MySQL's profile), so every INSERT and UPDATE flush expires columns: the recording does the most
work it can per flush. SQLite runs with `synchronous=OFF` (no waiting on the disk), so the time
is the CPU of the ORM and the driver: the fastest database, where the recording's share is the
largest.

Each run is a fresh process, in one of three modes:

- `baseline`: flushguard is never imported;
- `off`: the runtime is imported, recording started and stopped again (`stop_recording()`): the
  state an application is in when it does not record, which must cost nothing;
- `on`: `record()`, as the pytest plugin and `record(SessionLocal)` do.

The modes alternate round after round (the machine may be shared: a burst of load then hits every
mode alike), and the table gives each mode's median and best wall and CPU seconds, the overhead of
the median against the baseline's, and the extra microseconds per flush. Nothing is asserted:
this measures, the tests check behaviour.
"""


import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MODES = ("baseline", "off", "on")
CHILD_MODES = MODES + ("ab", "timed")
MYSQL_RETURNING_FLAGS = (
    "insert_returning",
    "update_returning",
    "delete_returning",
    "insert_executemany_returning",
)
#: Flushes per request: customer INSERT, order + lines INSERT, order UPDATE, the commit's
#: (nothing left to write: no flush runs), so three.
FLUSHES_PER_REQUEST = 3


# ----------------------------------------------------------------------------------------------
# The workload (runs in the child process)
# ----------------------------------------------------------------------------------------------


def child(mode: str, database: str, url: str, requests: int, warmup: int, pairs: int = 0) -> dict:
    sys.path.insert(0, str(REPO))
    spent: dict[str, float] = {}
    if mode == "timed":
        _time_listeners(spent)
    if mode != "baseline":
        from codemods.runtime import record, stop_recording

        record()
        if mode not in ("on", "timed"):
            stop_recording()
    import asyncio

    result = asyncio.run(_workload(database, url, requests, warmup, pairs if mode == "ab" else 0))
    if mode == "timed":
        result["listeners"] = spent
    return result


def _time_listeners(spent: dict[str, float]) -> None:
    """Wrap each listener in a timer (before `record()` installs them): the seconds spent inside
    the recording itself. On a loaded machine the process also waits for a core inside the
    listeners, but in proportion to the time it spends there, so their share of the wall time is
    what load does not blur as it blurs the difference of two runs. Warm-up requests are counted
    too, so the share is slightly overstated."""
    import functools

    from codemods.runtime import recorder

    def timed(name: str, listener: Any) -> Any:
        @functools.wraps(listener)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return listener(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - started

        return wrapper

    recorder._SESSION_LISTENERS = tuple(
        (name, timed(name, listener)) for name, listener in recorder._SESSION_LISTENERS
    )
    recorder._on_expire = timed("expire", recorder._on_expire)
    recorder._on_error = timed("handle_error", recorder._on_error)


async def _workload(database: str, url: str, requests: int, warmup: int, pairs: int) -> dict:
    from datetime import datetime
    from typing import Optional

    import sqlalchemy
    from sqlalchemy import DateTime, ForeignKey, String, event, func, text
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

    class Base(DeclarativeBase):
        pass

    class Customer(Base):
        __tablename__ = "bench_customers"
        id: Mapped[int] = mapped_column(primary_key=True)
        email: Mapped[str] = mapped_column(String(100))
        created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())

    class Order(Base):
        __tablename__ = "bench_orders"
        id: Mapped[int] = mapped_column(primary_key=True)
        customer_id: Mapped[int] = mapped_column(ForeignKey("bench_customers.id"))
        status: Mapped[str] = mapped_column(String(20), server_default=text("'new'"))
        created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())
        updated_at: Mapped[Optional[datetime]] = mapped_column(DateTime, onupdate=func.now())
        customer: Mapped[Customer] = relationship()
        lines: Mapped[list["Line"]] = relationship(back_populates="order")

    class Line(Base):
        __tablename__ = "bench_lines"
        id: Mapped[int] = mapped_column(primary_key=True)
        order_id: Mapped[int] = mapped_column(ForeignKey("bench_orders.id"))
        sku: Mapped[str] = mapped_column(String(20))
        quantity: Mapped[int] = mapped_column(default=1)
        order: Mapped[Order] = relationship(back_populates="lines")

    connect_args: dict[str, Any] = {}
    schema = None
    if database == "postgresql":
        schema = f"bench_{os.getpid()}"
        connect_args = {"server_settings": {"search_path": schema}}
    engine = create_async_engine(url, connect_args=connect_args)
    if database == "sqlite":
        # No waiting on the disk: the run measures the CPU of the ORM, the driver and the
        # recording, the case where the recording's share is the largest.
        @event.listens_for(engine.sync_engine, "connect")
        def no_sync(dbapi_connection: Any, record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA journal_mode=MEMORY")
            cursor.close()

    try:
        async with engine.begin() as connection:
            if schema:
                await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
                await connection.execute(text(f'SET search_path TO "{schema}"'))
            await connection.run_sync(Base.metadata.create_all)
        for flag in MYSQL_RETURNING_FLAGS:
            setattr(engine.sync_engine.dialect, flag, False)
        sessions = async_sessionmaker(engine)

        async def request(number: int) -> None:
            async with sessions() as session:
                customer = Customer(email=f"c{number}@example.com")
                session.add(customer)
                await session.flush()
                order = Order(customer=customer, lines=[Line(sku=f"S{i}") for i in range(3)])
                session.add(order)
                await session.flush()
                order.status = "paid"
                await session.flush()
                await session.refresh(order, ["created_at", "updated_at"])
                await session.commit()
                await session.refresh(order)
                assert order.status == "paid" and order.updated_at is not None

        for number in range(warmup):
            await request(-number - 1)
        if pairs:
            return {"blocks": await _alternate(request, requests, pairs),
                    "requests": requests, "flushes": requests * FLUSHES_PER_REQUEST,
                    "sqlalchemy": sqlalchemy.__version__}
        started, cpu_started = time.perf_counter(), time.process_time()
        for number in range(requests):
            await request(number)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        if schema:
            async with engine.begin() as connection:
                await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await engine.dispose()
    return {
        "wall": wall,
        "cpu": cpu,
        "requests": requests,
        "flushes": requests * FLUSHES_PER_REQUEST,
        "sqlalchemy": sqlalchemy.__version__,
    }


async def _alternate(request: Any, requests: int, pairs: int) -> list[dict]:
    """Blocks of `requests` requests, recording off and on in turn (which one goes first
    alternates too), in one process: load on a shared machine hits both halves of a pair alike.
    """
    from codemods.runtime import record, stop_recording

    blocks = []
    number = 0
    for pair in range(pairs):
        for recording in ((False, True) if pair % 2 == 0 else (True, False)):
            if recording:
                record()
            # One request untimed after each switch: installing or removing listeners makes
            # SQLAlchemy rebuild its event dispatch once, a cost an application pays once.
            number += 1
            await request(10_000_000 + number)
            started, cpu_started = time.perf_counter(), time.process_time()
            for _ in range(requests):
                number += 1
                await request(10_000_000 + number)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            if recording:
                stop_recording()
            blocks.append({"pair": pair, "recording": recording, "wall": wall, "cpu": cpu})
    return blocks


# ----------------------------------------------------------------------------------------------
# The parent: rounds of fresh processes, then the table
# ----------------------------------------------------------------------------------------------


def run_child(
    python: str, mode: str, database: str, url: str, requests: int, warmup: int, pairs: int = 0
) -> dict:
    done = subprocess.run(
        [python, __file__, "--child", mode, "--database", database, "--url", url,
         "--requests", str(requests), "--warmup", str(warmup), "--pairs", str(pairs)],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def in_fresh_database(args: argparse.Namespace, mode: str, pairs: int = 0) -> dict:
    url = args.pg_url
    folder = None
    if args.database == "sqlite":
        folder = tempfile.mkdtemp(prefix="flushguard-bench-")
        url = f"sqlite+aiosqlite:///{folder}/bench.db"
    requests = args.block if mode == "ab" else args.requests
    try:
        return run_child(args.python, mode, args.database, url, requests, args.warmup, pairs)
    finally:
        if folder:
            shutil.rmtree(folder, ignore_errors=True)


def measure(args: argparse.Namespace) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {mode: [] for mode in MODES}
    for round_number in range(args.rounds):
        order = MODES[round_number % len(MODES):] + MODES[: round_number % len(MODES)]
        for mode in order:
            results[mode].append(in_fresh_database(args, mode))
            print(f"round {round_number + 1}/{args.rounds} {mode}: "
                  f"{results[mode][-1]['wall']:.3f} s", file=sys.stderr)
    return results


def listeners_table(runs: list[dict]) -> str:
    """The seconds spent inside the listeners, as a share of the run's wall seconds."""
    ordered = sorted(runs, key=lambda run: sum(run["listeners"].values()) / run["wall"])
    run = ordered[len(ordered) // 2]
    inside = sum(run["listeners"].values())
    parts = ", ".join(
        f"{name} {seconds * 1e3:.1f} ms" for name, seconds in sorted(run["listeners"].items())
    )
    return "\n".join([
        f"Inside the recording's listeners (recording on, each listener timed; the median of"
        f" {len(runs)} runs): {inside / run['wall'] * 100:.1f}% of the run's wall time,"
        f" {inside / run['requests'] * 1e6:.0f} µs per request"
        f" ({FLUSHES_PER_REQUEST} flushes, 2 refreshes, a commit).",
        f"That run: {parts}.",
    ])


def paired_table(run: dict) -> str:
    """The in-process alternation: each pair's on/off ratio, their median and spread."""
    by_pair: dict[int, dict[bool, dict]] = {}
    for block in run["blocks"]:
        by_pair.setdefault(block["pair"], {})[block["recording"]] = block
    ratios = {
        kind: sorted(pair[True][kind] / pair[False][kind] - 1 for pair in by_pair.values())
        for kind in ("wall", "cpu")
    }
    off_wall = statistics.median(pair[False]["wall"] for pair in by_pair.values())
    on_wall = statistics.median(pair[True]["wall"] for pair in by_pair.values())
    flushes = run["flushes"]

    def quartiles(values: list[float]) -> str:
        q1, median, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
        return f"{median * 100:+.1f}% (middle half {q1 * 100:+.1f}% to {q3 * 100:+.1f}%)"

    return "\n".join([
        f"In one process, {len(by_pair)} pairs of {run['requests']}-request blocks ({flushes}"
        " flushes each), recording off and on in turn:",
        "",
        "| measure | recording on vs off, per pair |",
        "|---|---|",
        f"| wall | {quartiles(ratios['wall'])} |",
        f"| CPU | {quartiles(ratios['cpu'])} |",
        f"| µs per flush (median wall) | {(on_wall - off_wall) / flushes * 1e6:+.1f} |",
    ])


def table(results: dict[str, list[dict]], args: argparse.Namespace) -> str:
    base_wall = statistics.median(r["wall"] for r in results["baseline"])
    base_cpu = statistics.median(r["cpu"] for r in results["baseline"])
    first = results["baseline"][0]
    lines = [
        f"SQLAlchemy {first['sqlalchemy']}, {args.database}, {first['requests']} requests"
        f" ({first['flushes']} flushes) per run, {args.rounds} runs per mode, Python"
        f" {sys.version.split()[0]}",
        "",
        "| mode | median wall s | best wall s | median CPU s | wall overhead | CPU overhead"
        " | µs per flush (wall) |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode in MODES:
        walls = [r["wall"] for r in results[mode]]
        cpus = [r["cpu"] for r in results[mode]]
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        per_flush = (wall - base_wall) / first["flushes"] * 1e6
        lines.append(
            f"| {mode} | {wall:.3f} | {min(walls):.3f} | {cpu:.3f} |"
            f" {(wall / base_wall - 1) * 100:+.1f}% | {(cpu / base_cpu - 1) * 100:+.1f}% |"
            f" {per_flush:+.1f} |"
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > (os.cpu_count() or 1):
        lines.append("")
        lines.append(f"Load average {load:.1f} on {os.cpu_count()} CPUs: wall times are noisy.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get(
        "FLUSHGUARD_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:54329/flushguard_test"))
    parser.add_argument("--requests", type=int, default=400, help="requests per run (default 400)")
    parser.add_argument("--warmup", type=int, default=40, help="unmeasured requests first")
    parser.add_argument("--rounds", type=int, default=7, help="runs per mode (default 7)")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter of the runs (another virtualenv: another SQLAlchemy)")
    parser.add_argument("--pairs", type=int, default=200,
                        help="on/off block pairs of the in-process alternation"
                        " (default 200; 0: skip it)")
    parser.add_argument("--block", type=int, default=10,
                        help="requests per block of the alternation (default 10: short blocks,"
                        " so that the machine's load changes little within a pair)")
    parser.add_argument("--json", type=Path, help="also write every measurement to this file")
    parser.add_argument("--child", choices=CHILD_MODES, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(
            child(args.child, args.database, args.url, args.requests, args.warmup, args.pairs)
        ))
        return 0
    results: dict[str, Any] = measure(args)
    print(table(results, args))
    results["timed"] = [in_fresh_database(args, "timed") for _ in range(min(3, args.rounds))]
    print()
    print(listeners_table(results["timed"]))
    if args.pairs:
        results["alternating"] = in_fresh_database(args, "ab", args.pairs)
        print()
        print(paired_table(results["alternating"]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
