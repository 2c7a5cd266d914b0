"""Benchmark: what running episodes through the ROS 2 graph costs, against the headless runner.

(a) episodes/s: the same vision policy, seeds and perturbations, once through `run_episode` in
    this process ("headless") and once through a simulator node + policy node in lockstep
    (observation topics out, action back, per control step), driven by a client that sets the
    simulator's parameters and calls `~/run_episode` as the adversary node does, and wakes on the
    outcome message (no polling). The two paths alternate for `--rounds` rounds, so that load from
    other processes on a shared machine hits both alike; the ratio is over all rounds, and each
    round's is printed. The outcomes must be identical; the script says so. "in episodes" is the
    part of the graph's cost inside the episodes (from each record's wall time), the rest is the
    between-episode round trip (parameters, service call, outcome). CPU time per control step (this
    process for headless, the simulator and policy processes for the graph, from /proc) is printed
    too: on a busy machine wall time mostly measures the wait for a core, CPU time what the graph costs.
(b) camera topic latency: the simulator publishes `camera/agentview/image_raw` (84x84 rgb8,
    sensor-data QoS) at the control rate (20 Hz, `preview_rate`); a subscriber measures
    receive time - header stamp and counts what arrived.

Run: .venv/bin/python bench/ros_overhead.py [--episodes 12] [--rounds 3] [--latency-seconds 10]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "test")]
os.environ.setdefault("MUJOCO_GL", "egl")

PERTURBATIONS = [[], ["table_red"], ["cube_size_bar"], ["light_dim"]]


class Headless:
    """The headless runner with its simulation built once (as a worker process keeps it)."""

    def __init__(self) -> None:
        from robofail_ros.episode import run_episode
        from robofail_ros.policies import VisionScriptedPolicy
        from robofail_ros.sim import SimConfig, Simulation

        self.run_episode = run_episode
        self.sim = Simulation(SimConfig())
        self.policy = VisionScriptedPolicy()
        self.policy.bind(self.sim.scene)
        run_episode(self.sim, self.policy, [], 999)  # warm-up: first render, GL context
        self.cpu = 0.0  # CPU seconds spent in `run`

    def run(self, episodes: int):
        started, cpu = time.perf_counter(), time.process_time()
        records = [self.run_episode(self.sim, self.policy, PERTURBATIONS[i % len(PERTURBATIONS)], i)
                   for i in range(episodes)]
        self.cpu += time.process_time() - cpu
        return records, time.perf_counter() - started

    def close(self) -> None:
        self.sim.close()


class Graph:
    """A simulator node and a policy node, driven the way the adversary node drives them."""

    def __init__(self, domain: int, logs: Path, preview_rate: float) -> None:
        from diagnostic_msgs.msg import DiagnosticStatus
        from sensor_msgs.msg import Image

        from robofail_ros import names
        from robofail_ros.nodes.common import RELIABLE, SENSOR
        from ros_graph import GraphClient, NodeProcess, wait_until

        self.names = names
        self.sim = NodeProcess("simulator", {"camera_every": 0, "preview_rate": preview_rate}, domain, logs)
        self.pol = NodeProcess("policy", {}, domain, logs)
        self.client = GraphClient(domain, name="bench_client")
        self.arrivals: list[tuple[float, float]] = []
        self.outcomes: list = []
        self._outcome = threading.Event()
        self.cpu = [0.0, 0.0]  # CPU seconds of the simulator and the policy process spent in `run`

        def on_image(msg):
            self.arrivals.append((time.time(), msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9))

        def on_outcome(msg):
            self.outcomes.append(msg)
            self._outcome.set()

        node = self.client.node
        node.create_subscription(Image, names.node_topic(names.SIMULATOR, names.CAMERA_IMAGE, camera="agentview"),
                                 on_image, SENSOR)
        node.create_subscription(DiagnosticStatus, names.node_topic(names.SIMULATOR, names.EPISODE_OUTCOME),
                                 on_outcome, RELIABLE)
        run_episode = names.node_topic(names.SIMULATOR, names.RUN_EPISODE)
        if not wait_until(lambda: node.count_publishers(run_episode.rsplit("/", 1)[0] + "/" + names.EPISODE_OUTCOME)
                          and (self.arrivals or not preview_rate), 120):
            raise RuntimeError("the simulator node never came up:\n" + self.sim.output())

    def latency(self, seconds: float) -> tuple[list[float], int]:
        """Camera latencies (ms, sorted) and frames received over `seconds` while idle at 20 Hz."""
        time.sleep(1.0)
        self.arrivals.clear()
        time.sleep(seconds)
        window = list(self.arrivals)
        return sorted((recv - sent) * 1e3 for recv, sent in window), len(window)

    def episode(self, perts, seed, episode_id) -> dict:
        from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
        from rcl_interfaces.srv import SetParameters
        from std_srvs.srv import Trigger

        from robofail_ros.obs_codec import record_from_strings

        names = self.names
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
        self.client.call(SetParameters, names.node_topic(names.SIMULATOR, "set_parameters"),
                         SetParameters.Request(parameters=values))
        self._outcome.clear()
        before = len(self.outcomes)
        self.client.call(Trigger, names.node_topic(names.SIMULATOR, names.RUN_EPISODE))
        deadline = time.monotonic() + 300
        while len(self.outcomes) <= before:
            if not self._outcome.wait(max(0.0, deadline - time.monotonic())):
                raise RuntimeError(f"episode {episode_id} never finished")
            self._outcome.clear()
        return record_from_strings({kv.key: kv.value for kv in self.outcomes[-1].values})

    def run(self, episodes: int):
        started, cpu = time.perf_counter(), self.node_cpu()
        records = [self.episode(PERTURBATIONS[i % len(PERTURBATIONS)], i, f"bench-{i}") for i in range(episodes)]
        self.cpu = [total + after - before for total, before, after in zip(self.cpu, cpu, self.node_cpu())]
        return records, time.perf_counter() - started

    def node_cpu(self) -> list[float]:
        """CPU seconds (user + system) the simulator and the policy process have used so far."""
        def used(pid: int) -> float:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return [used(self.sim.proc.pid), used(self.pol.proc.pid)]

    def close(self) -> None:
        self.client.close()
        self.sim.stop()
        self.pol.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=12, help="episodes per path per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of both paths")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--domain", type=int, default=91)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    local = Headless()
    rounds, graph_cpu = [], [0.0, 0.0]
    with tempfile.TemporaryDirectory() as logs:
        # No idle previews while the headless path runs: they would take its CPU on a small machine.
        graph = Graph(args.domain, Path(logs), preview_rate=0.0)
        try:
            graph.episode([], 999, "warmup")
            for _ in range(args.rounds):
                rounds.append((local.run(args.episodes), graph.run(args.episodes)))
            graph_cpu = graph.cpu
        finally:
            graph.close()
            local.close()
        graph = Graph(args.domain, Path(logs), preview_rate=20.0)
        try:
            latencies, received = graph.latency(args.latency_seconds)
        finally:
            graph.close()
    same = all((r.outcome, r.steps) == (g["outcome"], g["steps"])
               for (local_records, _), (remote_records, _) in rounds for r, g in zip(local_records, remote_records))
    steps = sum(r.steps for (records, _), _ in rounds for r in records)
    local_s = sum(t for (_, t), _ in rounds)
    remote_s = sum(t for _, (_, t) in rounds)
    local_in = sum(r.wall_time for (records, _), _ in rounds for r in records)
    remote_in = sum(float(g["wall_time"]) for _, (records, _) in rounds for g in records)
    episodes = args.episodes * args.rounds
    print("\nROS overhead: vision policy on Lift, same seeds and perturbations "
          f"({', '.join('+'.join(p) or 'none' for p in PERTURBATIONS)} in turn), {args.rounds} alternating rounds")
    print(f"{'path':<24}{'episodes':>9}{'seconds':>9}{'episodes/s':>12}{'steps/s':>9}{'ms/step in episodes':>21}")
    for label, seconds, inside in (("headless run_episode", local_s, local_in),
                                   ("simulator+policy nodes", remote_s, remote_in)):
        print(f"{label:<24}{episodes:>9}{seconds:>9.2f}{episodes / seconds:>12.2f}{steps / seconds:>9.0f}"
              f"{inside / steps * 1e3:>21.2f}")
    print("per round, graph / headless episodes/s: "
          + ", ".join(f"{lt / rt:.2f}x" for (_, lt), (_, rt) in rounds))
    print(f"graph / headless episodes/s: {local_s / remote_s:.2f}x; per control step the graph adds "
          f"{(remote_s - local_s) / steps * 1e3:.2f} ms ({(remote_in - local_in) / steps * 1e3:.2f} ms of it inside "
          f"episodes); identical outcomes and steps: {same}")
    ms = [cpu / steps * 1e3 for cpu in (local.cpu, *graph_cpu)]
    print(f"CPU per control step: headless {ms[0]:.2f} ms; graph {ms[1] + ms[2]:.2f} ms (simulator {ms[1]:.2f} + "
          f"policy {ms[2]:.2f}): the graph uses {ms[1] + ms[2] - ms[0]:.2f} ms more")
    if latencies:
        expected = 20.0 * args.latency_seconds
        print(f"camera topic at 20 Hz for {args.latency_seconds:.0f} s: received {received}/{expected:.0f}; latency ms "
              f"median {statistics.median(latencies):.2f}, p90 {latencies[int(0.9 * (len(latencies) - 1))]:.2f}, "
              f"max {latencies[-1]:.2f}")
    print(f"1-min load average before -> after: {load_before:.2f} -> {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
