"""Benchmark: how many policy-under-test episodes per second an audit runs, and what sets that rate.

Three measurements, all on robosuite Lift/Panda at 20 Hz with the default horizon (100 steps)
and unperturbed scenes, episodes stopping at the first successful step:

(a) audit vs bare robosuite. The same scripted vision policy (`VisionScriptedPolicy`, which
    reads one 84x84 agentview frame per episode) from the same initial-state seeds, run
    1. "bare": a loop straight over robosuite, made the way a robomimic-style rollout makes
       it (`use_camera_obs=True`, camera agentview 84x84, `hard_reset=False`), so robosuite
       renders the camera at its default quality on every reset and step; the policy is fed
       the first frame (flipped to top-row-first) and `robot0_eef_pos`, exactly what it
       reads inside the audit;
    2. "audit": `robofail_ros.episode.run_episode` on a `Simulation`, which renders only the
       one frame the policy declares it reads, with fast rendering settings.
    The goal is audit/bare >= 0.9x; above 1x is expected because of the rendering.
(b) 1 vs 2 workers: `run_batch` over `make_vec_env(AuditConfig(workers=k))` on the same N
    control jobs (as `robofail_ros.audit.control_jobs` builds them). Worker start-up
    (process + simulation construction) and a warm-up batch of one episode per worker
    (first render, GL context) are timed and reported but excluded from the rate.
(c) fast vs default rendering: ms per 84x84 agentview frame from `Simulation.render` and
    episodes/s of the vision policy with `SimConfig(fast_rendering=True)` vs `False`, and
    the same for the privileged `ScriptedExpert`, which renders nothing (so rendering
    settings should not matter to it).

Why: the audit's budget is counted in episodes, so episodes/s on this 2-core, GPU-less
machine (EGL = Mesa llvmpipe software rendering) decides how large an audit can be. These
figures check the design claims in sim.py / workers.py against a plain robosuite rollout.

Each configuration gets one untimed warm-up episode first (on a seed outside the timed
pool). Success counts and control steps/s are printed beside episodes/s, because a
configuration whose episodes succeed less often also runs longer episodes.

Run: .venv/bin/python bench/episode_throughput.py [--parts a,b,c] [--episodes 20]
     [--batch-jobs 20] [--frames 50]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path

import robofail_ros  # noqa: F401  (sets MUJOCO_GL before mujoco is imported)

import numpy as np

from robofail_ros.adversary_env import EpisodeJob
from robofail_ros.audit import control_jobs
from robofail_ros.config import AuditConfig, episode_seed
from robofail_ros.episode import SUCCESS, run_episode
from robofail_ros.policies import ScriptedExpert, VisionScriptedPolicy
from robofail_ros.sim import ADVERSARY_CAMERA, SimConfig, Simulation

#: Seed of the untimed warm-up episodes; not in the timed pool (which comes from episode_seed).
WARMUP_SEED = 987654321


def progress(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def seeds(n: int, audit_seed: int = 0) -> list[int]:
    """The same initial-state seeds an audit's control run uses."""
    return [episode_seed(audit_seed, i, n) for i in range(n)]


def proc_cpu_s(pid: int) -> float:
    """User+system CPU seconds a process has used so far (Linux /proc); NaN where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU jiffies of the whole machine since boot, from /proc/stat; NaN where unavailable."""
    try:
        v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return float(sum(v) - idle), float(sum(v))
    except (OSError, IndexError, ValueError):
        return float("nan"), float("nan")


def summarise(label: str, wall: float, outcomes: list[tuple[bool, int]], **extra) -> dict:
    n = len(outcomes)
    steps = sum(s for _, s in outcomes)
    return {"config": label, "episodes": n, "successes": sum(ok for ok, _ in outcomes), "steps": steps,
            "wall_s": wall, "episodes_per_s": n / wall, "steps_per_s": steps / wall, **extra}


# -- (a) bare robosuite vs audit -----------------------------------------------------------------
def make_bare_env(horizon: int, control_freq: int, seed: int):
    import robosuite

    with contextlib.redirect_stdout(io.StringIO()):
        return robosuite.make(
            "Lift", robots="Panda", has_renderer=False, has_offscreen_renderer=True, use_camera_obs=True,
            camera_names="agentview", camera_heights=84, camera_widths=84, hard_reset=False,
            horizon=horizon, control_freq=control_freq, ignore_done=True, seed=seed,
        )


def bare_episode(env, policy, seed: int, horizon: int) -> tuple[bool, int]:
    """One rollout straight over robosuite; the policy sees what run_episode would show it."""
    env.rng.bit_generator.state = np.random.default_rng(seed).bit_generator.state  # as Simulation.reset
    obs = env.reset()
    policy.start_episode()
    for step in range(horizon):
        o = {"robot0_eef_pos": obs["robot0_eef_pos"]}
        if step == 0:  # the vision policy reads the first frame only (ObservationNeeds camera_every=0)
            o[f"{ADVERSARY_CAMERA}_image"] = obs[f"{ADVERSARY_CAMERA}_image"][::-1]  # robosuite: bottom row first
        obs, _, _, _ = env.step(policy(o))
        if env._check_success():
            return True, step + 1
    return False, horizon


def part_a(n: int) -> list[dict]:
    sim = Simulation(SimConfig(task="Lift"), seed=0)  # builds no GL context until its first render
    horizon = sim.config.horizon
    pool = seeds(n)
    rows = []

    # Bare robosuite first, to the end: robosuite's renderer does not make its GL context
    # current before rendering, so it must not be interleaved with mujoco.Renderer calls.
    t0 = time.perf_counter()
    env = make_bare_env(horizon, sim.config.control_freq, seed=0)
    make_s = time.perf_counter() - t0
    policy = VisionScriptedPolicy()
    policy.bind(sim.scene)
    bare_episode(env, policy, WARMUP_SEED, horizon)
    progress(f"(a) bare robosuite: {n} episodes")
    outcomes = []
    t0 = time.perf_counter()
    for s in pool:
        outcomes.append(bare_episode(env, policy, s, horizon))
    rows.append(summarise("bare robosuite (camera every step)", time.perf_counter() - t0, outcomes,
                          construct_s=make_s))
    env.close()

    policy = VisionScriptedPolicy()
    policy.bind(sim.scene)
    run_episode(sim, policy, [], WARMUP_SEED)
    progress(f"(a) audit run_episode: {n} episodes")
    outcomes = []
    t0 = time.perf_counter()
    for s in pool:
        r = run_episode(sim, policy, [], s)
        outcomes.append((r.outcome == SUCCESS, r.steps))
    rows.append(summarise("audit run_episode (1 frame/ep)", time.perf_counter() - t0, outcomes))
    sim.close()
    return rows


# -- (b) 1 vs 2 workers --------------------------------------------------------------------------
def part_b(n: int, worker_counts: list[int]) -> list[dict]:
    from robofail_ros.workers import make_vec_env, run_batch

    rows = []
    for k in worker_counts:
        config = AuditConfig(sim=SimConfig(task="Lift"), policy="vision", workers=k, control_episodes=n)
        jobs = control_jobs(config)
        warmup = [EpisodeJob(f"warmup-{w}", (), WARMUP_SEED + w, "bench") for w in range(k)]
        progress(f"(b) {k} worker(s): start-up, warm-up, {n} jobs")
        t0 = time.perf_counter()
        vec_env = make_vec_env(config, run_tag="bench")
        startup = time.perf_counter() - t0
        # Where the episodes run: this process (DummyVecEnv, k=1) or the SubprocVecEnv workers.
        pids = [p.pid for p in getattr(vec_env, "processes", [])] or [os.getpid()]
        try:
            t0 = time.perf_counter()
            run_batch(vec_env, warmup)
            warm = time.perf_counter() - t0
            cpu0, (busy0, total0) = [proc_cpu_s(p) for p in pids], machine_cpu()
            t0 = time.perf_counter()
            records = run_batch(vec_env, jobs)
            wall = time.perf_counter() - t0
            cpu1, (busy1, total1) = [proc_cpu_s(p) for p in pids], machine_cpu()
        finally:
            vec_env.close()
        outcomes = [(r.outcome == SUCCESS, r.steps) for r in records]
        busy = (busy1 - busy0) / (total1 - total0) if total1 > total0 else float("nan")
        rows.append(summarise(f"run_batch, {k} worker(s)", wall, outcomes, workers=k,
                              startup_s=startup, warmup_s=warm,
                              worker_cpu_per_wall=[(b - a) / wall for a, b in zip(cpu0, cpu1)],
                              machine_busy_frac=busy))
    return rows


# -- (c) fast vs default rendering ---------------------------------------------------------------
def part_c(n: int, frames: int) -> tuple[list[dict], list[dict]]:
    frame_rows, ep_rows = [], []
    pool = seeds(n)
    for fast in (True, False):
        name = "fast" if fast else "default"
        sim = Simulation(SimConfig(task="Lift", fast_rendering=fast), seed=0)
        t0 = time.perf_counter()
        sim.render(ADVERSARY_CAMERA, 84)
        first = time.perf_counter() - t0
        progress(f"(c) {name} rendering: {frames} frames, {n} vision + {n} expert episodes")
        times = []
        for _ in range(frames):
            t0 = time.perf_counter()
            sim.render(ADVERSARY_CAMERA, 84)
            times.append((time.perf_counter() - t0) * 1e3)
        frame_rows.append({"rendering": name, "frames": frames, "median_ms": statistics.median(times),
                           "p90_ms": float(np.percentile(times, 90)), "first_frame_ms": first * 1e3})
        for policy in (VisionScriptedPolicy(), ScriptedExpert()):
            policy.bind(sim.scene)
            run_episode(sim, policy, [], WARMUP_SEED)
            outcomes = []
            t0 = time.perf_counter()
            for s in pool:
                r = run_episode(sim, policy, [], s)
                outcomes.append((r.outcome == SUCCESS, r.steps))
            ep_rows.append(summarise(f"{policy.policy_id}, {name} rendering", time.perf_counter() - t0, outcomes))
        sim.close()
    return frame_rows, ep_rows


# -- output --------------------------------------------------------------------------------------
def episode_table(rows: list[dict]) -> list[str]:
    lines = [f"  {'configuration':<38} {'eps':>4} {'succ':>5} {'steps':>6} {'wall s':>7} {'eps/s':>7} {'steps/s':>8}"]
    for r in rows:
        lines.append(f"  {r['config']:<38} {r['episodes']:>4} {r['successes']:>5} {r['steps']:>6} "
                     f"{r['wall_s']:>7.1f} {r['episodes_per_s']:>7.3f} {r['steps_per_s']:>8.1f}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parts", default="a,b,c", help="which measurements to run, comma-separated subset of a,b,c")
    ap.add_argument("--episodes", type=int, default=20, help="timed episodes per configuration in (a) and (c)")
    ap.add_argument("--batch-jobs", type=int, default=20, help="timed jobs per worker count in (b)")
    ap.add_argument("--workers", default="1,2", help="worker counts to compare in (b)")
    ap.add_argument("--frames", type=int, default=50, help="timed renders per rendering setting in (c)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if not parts or parts - {"a", "b", "c"}:
        ap.error(f"--parts must be a comma-separated subset of a,b,c; got {args.parts!r}")
    for noisy in ("robosuite", "robosuite_logs"):
        logging.getLogger(noisy).setLevel(logging.ERROR)

    started = time.perf_counter()
    result: dict = {"cpus": os.cpu_count(), "mujoco_gl": os.environ.get("MUJOCO_GL"), "loadavg": {}}
    if "a" in parts:
        result["loadavg"]["a"] = [os.getloadavg()[0]]
        result["a"] = part_a(args.episodes)
        result["loadavg"]["a"].append(os.getloadavg()[0])
    if "b" in parts:
        result["loadavg"]["b"] = [os.getloadavg()[0]]
        result["b"] = part_b(args.batch_jobs, [int(k) for k in args.workers.split(",")])
        result["loadavg"]["b"].append(os.getloadavg()[0])
    if "c" in parts:
        result["loadavg"]["c"] = [os.getloadavg()[0]]
        result["c_frames"], result["c_episodes"] = part_c(args.episodes, args.frames)
        result["loadavg"]["c"].append(os.getloadavg()[0])
    result["total_wall_s"] = time.perf_counter() - started
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))

    out = ["", f"episode throughput (Lift/Panda, 20 Hz, horizon 100, {os.cpu_count()} CPUs, "
               f"MUJOCO_GL={os.environ.get('MUJOCO_GL')}; wall s excludes construction and warm-up)"]
    if "a" in result:
        bare, ours = result["a"]
        out += ["(a) audit vs bare robosuite, vision policy, same seeds"] + episode_table(result["a"])
        out.append(f"  ratio audit/bare: {ours['episodes_per_s'] / bare['episodes_per_s']:.2f}x episodes/s, "
                   f"{ours['steps_per_s'] / bare['steps_per_s']:.2f}x steps/s (goal >= 0.9x)")
    if "b" in result:
        out += ["(b) run_batch over make_vec_env, vision policy, control jobs"] + episode_table(result["b"])
        for r in result["b"]:
            cpu = ", ".join(f"{c:.2f}" for c in r["worker_cpu_per_wall"])
            out.append(f"  {r['workers']} worker(s): start-up {r['startup_s']:.1f} s, "
                       f"warm-up batch (1 ep/worker) {r['warmup_s']:.1f} s; during the batch each worker used "
                       f"[{cpu}] CPU-s per s, whole machine {100 * r['machine_busy_frac']:.0f}% busy")
        if len(result["b"]) >= 2:
            base = result["b"][0]
            for r in result["b"][1:]:
                out.append(f"  speed-up {r['workers']} vs {base['workers']} worker(s): "
                           f"{r['episodes_per_s'] / base['episodes_per_s']:.2f}x episodes/s")
    if "c_frames" in result:
        out.append("(c) fast vs default rendering: one 84x84 agentview frame via Simulation.render")
        out.append(f"  {'rendering':<10} {'frames':>6} {'median ms':>10} {'p90 ms':>8} {'first frame ms':>15}")
        for r in result["c_frames"]:
            out.append(f"  {r['rendering']:<10} {r['frames']:>6} {r['median_ms']:>10.1f} {r['p90_ms']:>8.1f} "
                       f"{r['first_frame_ms']:>15.1f}")
        out += episode_table(result["c_episodes"])
    load = ", ".join(f"({p}) {a:.2f} -> {b:.2f}" for p, (a, b) in result["loadavg"].items())
    out.append(f"1-min load average before -> after each part: {load}  (this process adds ~1; more = other load)")
    out.append(f"total benchmark wall time {result['total_wall_s']:.0f} s")
    print("\n".join(out))


if __name__ == "__main__":
    main()
