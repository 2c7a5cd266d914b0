"""Audits spread over several worker trios on the ROS 2 graph (/robofail/worker_<k>)."""
from __future__ import annotations

import os
import time

import pytest

pytest.importorskip("rclpy")

from std_msgs.msg import String  # noqa: E402

from robofail_ros import names  # noqa: E402
from robofail_ros.audit import run_audit  # noqa: E402
from robofail_ros.config import AuditConfig  # noqa: E402
from robofail_ros.nodes.common import LATCHED  # noqa: E402
from robofail_ros.record import LOG_NAME, load_log  # noqa: E402
from ros_graph import GraphClient, NodeProcess, wait_until  # noqa: E402

BUDGET, CONTROL = 24, 2


def domain() -> int:
    """215-232 (valid ROS domain ids; the fuzz test shares the range but never runs at the same time)."""
    return 215 + (os.getpid() + time.time_ns() // 1000) % 18


def trio(k: int, d: int, logs) -> list[NodeProcess]:
    ns = names.worker_namespace(k)
    return [NodeProcess("simulator", {"camera_every": 0}, d, logs, namespace=ns),
            NodeProcess("policy", {}, d, logs, namespace=ns),
            NodeProcess("perturbation", {}, d, logs, namespace=ns)]


def test_two_workers_share_an_audit_and_losing_one_mid_audit_loses_and_repeats_nothing(tmp_path):
    d, out = domain(), tmp_path / "graph"
    workers = {k: trio(k, d, tmp_path) for k in (0, 1)}
    adversary = NodeProcess("adversary", {"out_dir": str(out), "searcher": "uniform", "episodes": BUDGET,
                                          "control_episodes": CONTROL, "workers": 2, "retry_initial": 1.0}, d, tmp_path)
    client = GraphClient(d, name="workers_watcher")
    log = out / LOG_NAME
    try:
        state = client.collect(String, names.node_topic(names.ADVERSARY, names.AUDIT_STATE), LATCHED)

        def both_worked():
            return log.exists() and {r.worker for r in load_log(log).episodes} >= {"worker_0", "worker_1"}

        assert wait_until(both_worked, 300), adversary.output()[-3000:]
        for node in workers[1]:  # worker 1 leaves mid-audit, possibly with an episode in flight
            node.stop()
        assert wait_until(lambda: state and state[-1].data in ("finished",) or (state and "error" in state[-1].data), 400)
        assert state[-1].data == "finished", adversary.output()[-3000:]
        graph = {r.episode_id: r for r in load_log(log).episodes}
        assert len(graph) == len(load_log(log).episodes) == BUDGET + CONTROL  # each episode exactly once
        assert {r.worker for r in graph.values()} == {"worker_0", "worker_1"}
    finally:
        client.close()
        for node in [adversary, *workers[0], *workers[1]]:
            node.stop()
    # Seeds depend on the episode, not on the worker: a single-process audit runs the same experiments,
    # and (the vision policy being deterministic) gets the same outcomes.
    local = run_audit(AuditConfig(searcher="uniform", episodes=BUDGET, control_episodes=CONTROL, workers=1),
                      tmp_path / "local", film=False)
    assert {r.episode_id: (r.seed, r.perturbations, r.outcome, r.steps) for r in local.records} == \
        {i: (r.seed, r.perturbations, r.outcome, r.steps) for i, r in graph.items()}
