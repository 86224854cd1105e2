"""Compiling a generated organisation: compile_file on the YAML `generate` writes, against
compile_preset on the same parameters (no file; worker processes), measured side by side in one run.

    python benchmarks/compile_preset.py                 # enterprise, 100 developers, 5 days (about a minute)
    python benchmarks/compile_preset.py --full          # the 500-developer month (tens of minutes)
    python benchmarks/compile_preset.py --developers 50 --days 2 --workers 0

The YAML is written to a temporary file first and not timed; compile_preset's time includes generating.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from claude_telemetry_cli.scenario.generate import build_params, generate
from claude_telemetry_cli.scenario.source import compile_preset, default_workers
from claude_telemetry_cli.scenario.spool import compile_file


def _timed(compile_) -> tuple[float, float, int, int]:
    """(wall seconds, CPU seconds of this process and its workers, sessions, records)."""
    before, start = os.times(), time.perf_counter()
    with compile_() as compiled:
        wall = time.perf_counter() - start
        after = os.times()
        cpu = sum(after[:4]) - sum(before[:4])
        return wall, cpu, compiled.session_count, compiled.record_count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="enterprise")
    parser.add_argument("--developers", type=int, default=100)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--full", action="store_true", help="the 500-developer, 30-day month")
    parser.add_argument("--tracing", action="store_true", help="derive spans too, as a traced run does")
    parser.add_argument("--workers", type=int, default=None, help="compile_preset's worker processes")
    parser.add_argument("--skip-file", action="store_true", help="time compile_preset alone")
    args = parser.parse_args()
    if args.full:
        args.developers, args.days = 500, 30
    params = build_params(args.preset, {"developers": args.developers, "days": args.days, "seed": args.seed})
    workers = default_workers(params.developers * params.days) if args.workers is None else args.workers
    print(
        f"{args.preset}: {params.developers} developers, {params.days} days, seed {params.seed}; "
        f"{os.cpu_count()} cores, compile_preset with {workers} worker processes"
        + (", tracing" if args.tracing else "")
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_file:
            path = Path(tmp) / "org.yaml"
            with path.open("w", encoding="utf-8", newline="\n") as out:
                generate(params, out)
            size = path.stat().st_size / 1e6
            rows.append(
                (f"compile_file ({size:,.0f} MB)", _timed(lambda: compile_file(path, tracing=args.tracing)))
            )
            path.unlink()
        rows.append(
            ("compile_preset", _timed(lambda: compile_preset(params, tracing=args.tracing, workers=workers)))
        )
    print(
        f"{'':24} {'seconds':>9} {'cpu s':>8} {'sessions':>9} {'records':>11} "
        f"{'sessions/s':>11} {'records/s':>10}"
    )
    for name, (wall, cpu, sessions, records) in rows:
        print(
            f"{name:24} {wall:9.1f} {cpu:8.1f} {sessions:9,} {records:11,} {sessions / wall:11,.1f} "
            f"{records / wall:10,.0f}"
        )
    if len(rows) == 2:
        print(f"compile_preset is {rows[0][1][0] / rows[1][1][0]:.1f}x as fast as compile_file")


if __name__ == "__main__":
    main()
