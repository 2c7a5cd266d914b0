"""Benchmark: what running episodes through the ROS 2 graph costs, against the headless runner.

(a) episodes/s: the same vision policy, seeds and perturbations, once through `run_episode` in
    this process ("headless") and once through a simulator node + policy node in lockstep
    (observation topics out, action back, per control step), driven by a client that sets the
    simulator's parameters and calls `~/run_episode` as the adversary node does. The outcomes
    must be identical; the script says so.
(b) camera topic latency: the simulator publishes `camera/agentview/image_raw` (84x84 rgb8,
    sensor-data QoS) at the control rate (20 Hz, `preview_rate`); a subscriber measures
    receive time - header stamp and counts what arrived.

Run: .venv/bin/python bench/ros_overhead.py [--episodes 12] [--latency-seconds 10]
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

PERTURBATIONS = [[], ["table_red"], ["cube_size_bar"], ["light_dim"]]


def headless(episodes: int):
    from robofail_ros.episode import run_episode
    from robofail_ros.policies import VisionScriptedPolicy
    from robofail_ros.sim import SimConfig, Simulation

    sim = Simulation(SimConfig())
    policy = VisionScriptedPolicy()
    policy.bind(sim.scene)
    run_episode(sim, policy, [], 999)  # warm-up: first render, GL context
    started = time.perf_counter()
    records = [run_episode(sim, policy, PERTURBATIONS[i % len(PERTURBATIONS)], i) for i in range(episodes)]
    elapsed = time.perf_counter() - started
    sim.close()
    return records, elapsed


def through_graph(episodes: int, domain: int, logs: Path, latency_seconds: float):
    from diagnostic_msgs.msg import DiagnosticStatus
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters
    from sensor_msgs.msg import Image
    from std_srvs.srv import Trigger

    from robofail_ros import names
    from robofail_ros.nodes.common import RELIABLE, SENSOR
    from robofail_ros.obs_codec import record_from_strings
    from ros_graph import NodeProcess, GraphClient, wait_until

    sim = NodeProcess("simulator", {"camera_every": 0, "preview_rate": 20.0}, domain, logs)
    pol = NodeProcess("policy", {}, domain, logs)
    client = GraphClient(domain, name="bench_client")
    try:
        arrivals: list[tuple[float, float]] = []

        def on_image(msg):
            arrivals.append((time.time(), msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9))

        client.node.create_subscription(Image, names.node_topic(names.SIMULATOR, names.CAMERA_IMAGE, camera="agentview"),
                                        on_image, SENSOR)
        outcomes = client.collect(DiagnosticStatus, names.node_topic(names.SIMULATOR, names.EPISODE_OUTCOME), RELIABLE)
        if not wait_until(lambda: arrivals, 120):
            raise RuntimeError("no camera image from the simulator node:\n" + sim.output())
        # (b) latency while idle at 20 Hz
        time.sleep(1.0)
        arrivals.clear()
        time.sleep(latency_seconds)
        window = list(arrivals)
        latencies = sorted((recv - sent) * 1e3 for recv, sent in window)

        def run(perts, seed, episode_id):
            values = []
            for name, value in (("perturbations", perts), ("episode_seed", seed), ("episode_id", episode_id)):
                v = ParameterValue()
                if name == "perturbations":
                    v.type, v.string_array_value = ParameterType.PARAMETER_STRING_ARRAY, value
                elif name == "episode_seed":
                    v.type, v.integer_value = ParameterType.PARAMETER_INTEGER, value
                else:
                    v.type, v.string_value = ParameterType.PARAMETER_STRING, value
                values.append(Parameter(name=name, value=v))
            client.call(SetParameters, names.node_topic(names.SIMULATOR, "set_parameters"),
                        SetParameters.Request(parameters=values))
            before = len(outcomes)
            client.call(Trigger, names.node_topic(names.SIMULATOR, names.RUN_EPISODE))
            if not wait_until(lambda: len(outcomes) > before, 300):
                raise RuntimeError(f"episode {episode_id} never finished")
            return record_from_strings({kv.key: kv.value for kv in outcomes[-1].values})

        run([], 999, "warmup")
        started = time.perf_counter()
        records = [run(PERTURBATIONS[i % len(PERTURBATIONS)], i, f"bench-{i}") for i in range(episodes)]
        elapsed = time.perf_counter() - started
        return records, elapsed, latencies, len(window)
    finally:
        client.close()
        sim.stop()
        pol.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=12)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--domain", type=int, default=91)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    local, local_s = headless(args.episodes)
    with tempfile.TemporaryDirectory() as logs:
        remote, remote_s, latencies, received = through_graph(args.episodes, args.domain, Path(logs), args.latency_seconds)
    same = all((r.outcome, r.steps) == (g["outcome"], g["steps"]) for r, g in zip(local, remote))
    steps = sum(r.steps for r in local)
    expected = 20.0 * args.latency_seconds
    print("\nROS overhead: vision policy on Lift, same seeds and perturbations "
          f"({', '.join('+'.join(p) or 'none' for p in PERTURBATIONS)} in turn)")
    print(f"{'path':<22}{'episodes':>9}{'seconds':>9}{'episodes/s':>12}{'steps/s':>9}")
    print(f"{'headless run_episode':<22}{len(local):>9}{local_s:>9.2f}{len(local) / local_s:>12.2f}{steps / local_s:>9.0f}")
    print(f"{'simulator+policy nodes':<22}{len(remote):>9}{remote_s:>9.2f}{len(remote) / remote_s:>12.2f}{steps / remote_s:>9.0f}")
    print(f"graph / headless episodes/s: {local_s / remote_s:.2f}x; per control step the graph adds "
          f"{(remote_s - local_s) / steps * 1e3:.2f} ms; identical outcomes and steps: {same}")
    if latencies:
        print(f"camera topic at 20 Hz for {args.latency_seconds:.0f} s: received {received}/{expected:.0f}; latency ms "
              f"median {statistics.median(latencies):.2f}, p90 {latencies[int(0.9 * (len(latencies) - 1))]:.2f}, "
              f"max {latencies[-1]:.2f}")
    print(f"1-min load average before -> after: {load_before:.2f} -> {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
