"""Soak benchmark: a continuous headless audit for a fixed time, watching memory and throughput.

Runs the core `run_audit` (Lift, vision policy, `--searcher` uniform or bandit, `--workers` SubprocVecEnv
workers) with an episode budget too large to finish (`--minutes` x 60 s x 10 episodes/s, above what two
workers manage here) and stops it at the deadline from its own per-episode callback; should an audit ever
finish early, the next one starts in a fresh folder. Nothing is filmed and no report is drawn.

Measured from /proc (no extra dependency): VmRSS of the main process and of every worker process (the
SubprocVecEnv's own pids), sampled every `--sample-seconds`, reported at the start (the first sample with
the workers up) and at the end (the last sample before the stop), with the peak; the other child processes
(multiprocessing's forkserver and resource tracker) are summed separately. Episodes finished in each whole
minute, and the total RSS at the end of that minute. The table is printed last; progress goes to stderr.

Run: .venv/bin/python bench/soak.py [--minutes 10] [--searcher uniform|bandit] [--workers 2] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("MUJOCO_GL", "egl")

MAX_EPISODES_PER_SECOND = 10  # budget sizing only: two workers ran ~6.9 episodes/s here (docs/benchmarks.md)


class Deadline(Exception):
    """Raised from the audit's per-episode callback when the soak time is up."""


def progress(msg: str) -> None:
    print(f"[soak] {msg}", file=sys.stderr, flush=True)


def rss_kib(pid: int) -> int | None:
    """VmRSS of a process in KiB, or None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid`, from the parent pid in /proc/<pid>/stat."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class Sampler(threading.Thread):
    """Samples the RSS of the main process, the workers and the other children until stopped."""

    def __init__(self, interval: float, started: float) -> None:
        super().__init__(daemon=True)
        self.interval, self.started = interval, started
        self.worker_pids: list[int] = []
        self.samples: list[dict] = []
        self._halt = threading.Event()

    def sample(self) -> dict:
        main = os.getpid()
        workers = {p: rss_kib(p) for p in self.worker_pids}
        others = [p for p in descendants(main) if p not in workers]
        return {"t": time.monotonic() - self.started, "main": rss_kib(main),
                "workers": {p: r for p, r in workers.items() if r is not None},
                "others": sum(r for r in (rss_kib(p) for p in others) if r is not None), "n_others": len(others)}

    def run(self) -> None:
        while not self._halt.is_set():
            self.samples.append(self.sample())
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="how long to soak (default 10)")
    ap.add_argument("--searcher", choices=("uniform", "bandit"), default="uniform")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sample-seconds", type=float, default=2.0, help="RSS sampling interval")
    ap.add_argument("--out", type=Path, default=None, help="folder for the audit folders (default: a temporary one, removed)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()
    if args.minutes <= 0 or args.workers < 1:
        ap.error("--minutes must be positive and --workers at least 1")

    load_before = os.getloadavg()[0]
    main_rss_before_imports = rss_kib(os.getpid())
    from robofail_ros.audit import run_audit
    from robofail_ros.config import AuditConfig
    from robofail_ros.workers import make_vec_env

    base = args.out or Path(tempfile.mkdtemp(prefix="robofail_soak_"))
    started = time.monotonic()
    deadline = started + args.minutes * 60
    sampler = Sampler(args.sample_seconds, started)
    sampler.start()
    finish_times: list[float] = []
    end_samples: list[dict] = []
    outcomes: dict[str, int] = {}
    audits = 0
    budget = max(1, math.ceil(args.minutes * 60 * MAX_EPISODES_PER_SECOND))

    def capture(config, completed, run_tag):
        vec_env = make_vec_env(config, completed, run_tag)
        sampler.worker_pids = [p.pid for p in getattr(vec_env, "processes", [])] or [os.getpid()]
        return vec_env

    def on_record(record, done, total):
        now = time.monotonic()
        if now >= deadline:
            end_samples.append(sampler.sample())  # the workers are still up: run_audit closes them on the way out
            raise Deadline
        finish_times.append(now - started)
        outcomes[record.outcome] = outcomes.get(record.outcome, 0) + 1
        n = len(finish_times)
        if n % 50 == 0:
            progress(f"{n} episodes after {now - started:.0f} s")

    try:
        while time.monotonic() < deadline:
            audits += 1
            config = AuditConfig(searcher=args.searcher, episodes=budget, workers=args.workers, seed=audits - 1)
            out = base / f"audit{audits:02d}"
            progress(f"audit {audits}: {args.searcher}, {args.workers} workers, budget {budget} -> {out}")
            try:
                run_audit(config, out, on_record=on_record, film=False, make_env=capture, write_files=False)
            except Deadline:
                break
    finally:
        sampler.stop()
        if args.out is None:
            shutil.rmtree(base, ignore_errors=True)
    wall = time.monotonic() - started
    load_after = os.getloadavg()[0]

    # the first sample with every worker up, and the last one before the stop
    samples = [s for s in sampler.samples if len(s["workers"]) == args.workers and s["main"] is not None]
    samples += [s for s in end_samples if len(s["workers"]) == args.workers and s["main"] is not None]
    first, last = (samples[0], samples[-1]) if samples else (None, None)
    minutes = int(args.minutes) + (1 if args.minutes % 1 else 0)
    per_minute = []
    for m in range(minutes):
        lo, hi = m * 60, min((m + 1) * 60, args.minutes * 60)
        eps = sum(1 for t in finish_times if lo <= t < hi)
        in_minute = [s for s in samples if lo <= s["t"] < hi]
        total = (in_minute[-1]["main"] + sum(in_minute[-1]["workers"].values()) + in_minute[-1]["others"]) if in_minute else None
        per_minute.append({"minute": m + 1, "seconds": hi - lo, "episodes": eps,
                           "episodes_per_minute": eps * 60 / (hi - lo), "total_rss_mib": total and total / 1024})

    def mib(kib):
        return "n/a" if kib is None else f"{kib / 1024:.1f}"

    lines = [f"soak: continuous headless audit, Lift, vision policy, {args.searcher} searcher, {args.workers} workers "
             f"(SubprocVecEnv), {args.minutes:g} min, {audits} audit(s), budget {budget} episodes each",
             f"episodes finished before the deadline: {len(finish_times)} in {wall:.0f} s wall "
             f"({', '.join(f'{k} {v}' for k, v in sorted(outcomes.items()))}); first episode at "
             f"{finish_times[0]:.1f} s (worker start-up and the control run's first batch)" if finish_times else
             "no episode finished before the deadline",
             f"RSS MiB (VmRSS)          start   end    peak   (start = first sample with the workers up, t={first['t']:.0f} s; "
             f"end = last sample, t={last['t']:.0f} s)" if first else "RSS: no sample with all workers up"]
    if first:
        rows = [("main process", first["main"], last["main"], max(s["main"] for s in samples))]
        for i, pid in enumerate(sorted(first["workers"])):
            end = last["workers"].get(pid)
            peak = max(s["workers"].get(pid, 0) for s in samples)
            rows.append((f"worker {i} (pid {pid})", first["workers"][pid], end, peak))
        rows.append((f"other children ({first['n_others']})", first["others"], last["others"], max(s["others"] for s in samples)))
        for label, a, b, c in rows:
            lines.append(f"  {label:<22} {mib(a):>6} {mib(b):>6} {mib(c):>6}")
        lines.append(f"  main process before imports: {mib(main_rss_before_imports)} MiB")
    lines.append("minute  seconds  episodes  episodes/min  total RSS MiB at minute end")
    for row in per_minute:
        rss = "n/a" if row["total_rss_mib"] is None else f"{row['total_rss_mib']:.1f}"
        lines.append(f"{row['minute']:>6}  {row['seconds']:>7.0f}  {row['episodes']:>8}  {row['episodes_per_minute']:>12.1f}  {rss:>12}")
    lines.append(f"1-min load average before -> after: {load_before:.2f} -> {load_after:.2f} "
                 f"(the soak adds ~{args.workers}; more = other load on the {os.cpu_count()} CPUs)")
    if args.json:
        args.json.write_text(json.dumps({"minutes": args.minutes, "searcher": args.searcher, "workers": args.workers,
                                         "audits": audits, "episodes": len(finish_times), "outcomes": outcomes,
                                         "wall_s": wall, "first": first, "last": last, "per_minute": per_minute,
                                         "load_before": load_before, "load_after": load_after}, indent=2))
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
