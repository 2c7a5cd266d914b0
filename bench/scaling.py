"""Benchmark: episodes/s of an audit spread over 1 and 2 worker trios on the ROS 2 graph, and what N would give.

For each worker count k, starts k trios (simulator + policy + perturbation in /robofail/worker_<i>) and an
adversary node (`workers:=k`, uniform searcher), and times the searched episodes from the log as they are
appended (worker start-up and the control run excluded). It also reports each episode's own time in the
simulator (`wall_time`), the adversary's dispatch overhead per episode (clear + apply + parameters + trigger +
outcome, i.e. graph time per episode minus simulator time), and the serialized sizes of the messages an
episode exchanges, so the scaling to N machines can be estimated rather than guessed.

Run: .venv/bin/python bench/scaling.py [--episodes 40] [--workers 1,2]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "test")]
os.environ.setdefault("MUJOCO_GL", "egl")


def run_graph(k: int, episodes: int, control: int, domain: int, folder: Path) -> dict:
    from robofail_ros import names
    from robofail_ros.record import LOG_NAME, load_log
    from ros_graph import NodeProcess, wait_until

    nodes = []
    for i in range(k):
        ns = names.worker_namespace(i)
        nodes += [NodeProcess(n, {"camera_every": 0} if n == "simulator" else {}, domain, folder, namespace=ns)
                  for n in ("simulator", "policy", "perturbation")]
    out = folder / f"audit{k}"
    nodes.append(NodeProcess("adversary", {"out_dir": str(out), "searcher": "uniform", "episodes": episodes,
                                           "control_episodes": control, "workers": k}, domain, folder))
    log = out / LOG_NAME
    times: list[tuple[float, int]] = []
    cpu_at_control = None
    try:
        deadline = time.time() + 900
        while time.time() < deadline:
            n = len(load_log(log).episodes) if log.exists() else 0
            if not times or times[-1][1] != n:
                times.append((time.time(), n))
                if cpu_at_control is None and n >= control:
                    cpu_at_control = _cpu_seconds(nodes[-1].proc.pid)
            if n >= episodes + control:
                break
            time.sleep(0.1)
        records = load_log(log).episodes
        adversary_cpu = _cpu_seconds(nodes[-1].proc.pid) - cpu_at_control
    finally:
        for node in nodes:
            node.stop()
    start = next(t for t, n in times if n >= control)
    end = times[-1][0]
    searched = [r for r in records if r.searcher == "uniform"]
    rate = len(searched) / (end - start)
    return {"workers": k, "episodes": len(searched), "seconds": end - start, "rate": rate,
            "sim_time": statistics.mean(r.wall_time for r in searched),
            "adversary_cpu_ms": adversary_cpu / len(searched) * 1e3,
            "per_worker": {w: sum(r.worker == w for r in searched) for w in sorted({r.worker for r in searched})}}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children that were waited for (the node re-executes once)."""
    total = 0.0
    for p in [pid] + [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return total


def message_sizes() -> dict[str, int]:
    """Serialized bytes of one of each message an episode exchanges (rclpy's CDR serialization)."""
    import numpy as np
    from diagnostic_msgs.msg import DiagnosticStatus  # noqa: F401  (imported for its type support)
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import JointState

    from robofail_ros.episode import run_episode
    from robofail_ros.names import ACTION_LABELS
    from robofail_ros.nodes.common import image_message
    from robofail_ros.nodes.simulator import outcome_message
    from robofail_ros.obs_codec import flatten_observation
    from robofail_ros.policies import VisionScriptedPolicy
    from robofail_ros.sim import SimConfig, Simulation

    sim = Simulation(SimConfig())
    obs = sim.reset(0)
    labels, values = flatten_observation(obs)
    state = JointState(name=labels + ["episode_step/0"], position=values + [0.0])
    image = image_message(sim.render(), JointState().header.stamp, "agentview")
    action = JointState(name=list(ACTION_LABELS), position=np.zeros(7).tolist())
    policy = VisionScriptedPolicy()
    policy.bind(sim.scene)
    record = run_episode(sim, policy, ["table_red"], 0, episode_id="uniform-000000")
    sim.close()
    return {"observation state (JointState)": len(serialize_message(state)),
            "observation image 84x84 rgb8": len(serialize_message(image)),
            "action (JointState)": len(serialize_message(action)),
            "episode outcome (DiagnosticStatus)": len(serialize_message(outcome_message(record, "/robofail/worker_0"))),
            "steps of that failing episode": record.steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--control", type=int, default=2)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--domain", type=int, default=93)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    sizes = message_sizes()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in (int(x) for x in args.workers.split(",")):
            results.append(run_graph(k, args.episodes, args.control, args.domain, Path(tmp)))
    print("\nscaling: uniform audit of the vision policy on Lift through the graph, k worker trios on this 2-core machine")
    print(f"{'workers':>7}{'episodes':>9}{'seconds':>9}{'episodes/s':>12}{'sim s/ep':>10}{'dispatch ms/ep':>16}"
          f"{'adversary CPU ms/ep':>21}  per worker")
    for r in results:
        dispatch = (r["workers"] / r["rate"] - r["sim_time"]) * 1e3
        print(f"{r['workers']:>7}{r['episodes']:>9}{r['seconds']:>9.1f}{r['rate']:>12.2f}{r['sim_time']:>10.3f}"
              f"{dispatch:>16.1f}{r['adversary_cpu_ms']:>21.1f}  {r['per_worker']}")
    if len(results) > 1:
        print(f"speed-up {results[-1]['workers']} vs {results[0]['workers']} worker(s): "
              f"{results[-1]['rate'] / results[0]['rate']:.2f}x")
    print("message sizes (bytes, serialized): " + ", ".join(f"{k} {v}" for k, v in sizes.items()))
    print(f"1-min load average before -> after: {load_before:.2f} -> {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
