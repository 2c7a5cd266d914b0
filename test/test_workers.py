"""Audits spread over several worker trios on the ROS 2 graph (/robofail/worker_<k>)."""
from __future__ import annotations

import os
import shutil
import subprocess
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


def _ip(*args: str) -> bool:
    return subprocess.run(["ip", *args], capture_output=True).returncode == 0


@pytest.fixture
def network_namespace():
    """A second 'host': a network namespace joined to this one by a veth pair with addresses of our own.

    DDS then crosses a real network interface (UDP over the veth, static peers; nothing leaves on other
    interfaces), not only process boundaries. Skipped where namespaces cannot be made.
    """
    tag = f"{os.getpid() % 1000}"
    ns, host_if, ns_if = f"rfw{tag}", f"rfh{tag}", f"rfn{tag}"
    subnet = 10 + os.getpid() % 200
    host_ip, ns_ip = f"10.231.{subnet}.1", f"10.231.{subnet}.2"
    if shutil.which("ip") is None or not _ip("netns", "add", ns):
        pytest.skip("network namespaces cannot be made here (needs iproute2 and root)")
    try:
        ok = (_ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
              and _ip("link", "set", ns_if, "netns", ns)
              and _ip("addr", "add", f"{host_ip}/24", "dev", host_if) and _ip("link", "set", host_if, "up")
              and _ip("netns", "exec", ns, "ip", "addr", "add", f"{ns_ip}/24", "dev", ns_if)
              and _ip("netns", "exec", ns, "ip", "link", "set", ns_if, "up")
              and _ip("netns", "exec", ns, "ip", "link", "set", "lo", "up"))
        if not ok:
            pytest.skip("could not wire a veth pair into the network namespace")
        yield ns, host_ip, ns_ip
    finally:
        _ip("link", "del", host_if)
        _ip("netns", "del", ns)


def test_a_worker_on_another_host_is_discovered_and_runs_the_audit(tmp_path, network_namespace):
    ns, host_ip, ns_ip = network_namespace
    d, out = domain(), tmp_path / "remote"
    remote_env = {"ROS_STATIC_PEERS": host_ip}
    worker_ns = names.worker_namespace(7)
    remote = [NodeProcess(n, {"camera_every": 0} if n == "simulator" else {}, d, tmp_path, namespace=worker_ns,
                          prefix=["ip", "netns", "exec", ns], env=remote_env)
              for n in ("simulator", "policy", "perturbation")]
    adversary = NodeProcess("adversary", {"out_dir": str(out), "searcher": "uniform", "episodes": 6,
                                          "control_episodes": 1}, d, tmp_path, env={"ROS_STATIC_PEERS": ns_ip})
    log = out / LOG_NAME
    try:
        assert wait_until(lambda: log.exists() and len(load_log(log).episodes) == 7, 300), \
            adversary.output()[-2000:] + remote[0].output()[-2000:]
        assert {r.worker for r in load_log(log).episodes} == {"worker_7"}
        assert "worker worker_7 joined" in adversary.output()
    finally:
        for node in [adversary, *remote]:
            node.stop()
