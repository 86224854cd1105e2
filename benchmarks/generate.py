"""`generate` throughput and memory as the organisation grows: sessions per second and peak memory.

    python benchmarks/generate.py [--sizes 100,1000,10000] [--days 30] [--large-days 3] [--preset enterprise]

Each size runs in its own process writing to /dev/null, so one run's memory cannot hide in another's.
Peak memory is the process's maximum resident set (resource.getrusage), shown with the growth over
the same process just before generating (Python, the package and faker already loaded): that growth
is what generation itself holds. Output size grows with the population; the growth of memory should
grow far slower, since the file is streamed one developer-day at a time.

A month for 10,000 developers takes minutes on its own, so sizes above 1,000 run --large-days days
(3 by default) and the table says so; sessions per second are comparable across rows either way.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _max_rss_mb() -> float:
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return rss / 1024 / 1024 if sys.platform == "darwin" else rss / 1024


def child(preset: str, developers: int, days: int) -> None:
    """Generate one population to /dev/null and print what it took as one JSON line."""
    from claude_telemetry_cli.scenario.generate import build_params, generate

    params = build_params(preset, {"developers": developers, "days": days, "seed": 1})
    # Load faker and build its providers now, so the baseline holds them.
    with open("/dev/null", "w", encoding="utf-8") as out:
        generate(build_params(preset, {"developers": 1, "days": 1, "seed": 1}), out)
    baseline = _max_rss_mb()
    started = time.perf_counter()
    with open("/dev/null", "w", encoding="utf-8") as out:
        stats = generate(params, out)
    seconds = time.perf_counter() - started
    s = stats.summary
    print(
        json.dumps(
            {
                "developers": developers,
                "days": days,
                "sessions": s["sessions"],
                "requests": s["requests"]["total"],
                "bytes": s["bytes"],
                "seconds": seconds,
                "baseline_mb": baseline,
                "peak_mb": _max_rss_mb(),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100,1000,10000", help="developer counts, comma-separated")
    parser.add_argument("--days", type=int, default=30, help="days for sizes up to 1,000")
    parser.add_argument("--large-days", type=int, default=3, help="days for sizes above 1,000")
    parser.add_argument("--preset", default="enterprise")
    parser.add_argument("--child", nargs=2, type=int, metavar=("DEVELOPERS", "DAYS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.preset, *args.child)
        return

    rows = []
    for developers in (int(n) for n in args.sizes.split(",")):
        days = args.days if developers <= 1000 else args.large_days
        print(f"generating {developers:,} developers x {days} days ...", file=sys.stderr, flush=True)
        proc = subprocess.run(
            [sys.executable, __file__, "--preset", args.preset, "--child", str(developers), str(days)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            sys.exit(f"{developers} developers failed:\n{proc.stderr}")
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))

    header = (
        f"{'developers':>10} {'days':>4} {'sessions':>9} {'requests':>10} {'output MB':>9} {'seconds':>7} "
        f"{'sessions/s':>10} {'peak MB':>7} {'held MB':>7} {'output x':>8} {'held x':>6}"
    )
    print(f"generate --preset {args.preset}, written to /dev/null, one process per row")
    print(header)
    print("-" * len(header))
    previous = None
    for row in rows:
        held = row["peak_mb"] - row["baseline_mb"]
        growth_out = growth_held = ""
        if previous is not None:
            growth_out = f"{row['bytes'] / previous['bytes']:.1f}"
            growth_held = f"{held / max(previous['held'], 0.1):.1f}"
        print(
            f"{row['developers']:>10,} {row['days']:>4} {row['sessions']:>9,} {row['requests']:>10,} "
            f"{row['bytes'] / 1e6:>9,.1f} {row['seconds']:>7.1f} {row['sessions'] / row['seconds']:>10,.0f} "
            f"{row['peak_mb']:>7.1f} {held:>7.1f} {growth_out:>8} {growth_held:>6}"
        )
        previous = {**row, "held": held}
    print(
        "held MB: peak resident memory minus the same process just before generating; "
        "output x / held x: growth over the previous row."
    )
    if any(r["days"] != args.days for r in rows):
        print(f"rows above 1,000 developers ran {args.large_days} days instead of {args.days} to stay quick.")


if __name__ == "__main__":
    main()
