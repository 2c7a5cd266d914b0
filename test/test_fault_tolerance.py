"""Fault tolerance on real processes: nothing lost, nothing miscounted, no crash, clear refusals."""
from __future__ import annotations

import os
import time
import zipfile

import numpy as np
import pytest

pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from std_msgs.msg import Float64MultiArray, String  # noqa: E402

from robofail_ros import names  # noqa: E402
from robofail_ros.audit import run_audit  # noqa: E402
from robofail_ros.config import AuditConfig, PPOConfig  # noqa: E402
from robofail_ros.nodes.common import LATCHED, RELIABLE  # noqa: E402
from robofail_ros.record import LOG_NAME, load_log  # noqa: E402
from robofail_ros.searchers.base import CheckpointError  # noqa: E402
from ros_graph import GraphClient, NodeProcess, wait_until  # noqa: E402
from test_ros_nodes import run_graph_episode  # noqa: E402

BUDGET, CONTROL = 24, 2


def domain() -> int:
    """Domains 51-100 for this module (valid ids are 0-101 and 215-232; test_ros_nodes uses 1-50)."""
    return 51 + (os.getpid() + time.time_ns() // 1000) % 50


def finished(state) -> bool:
    return bool(state) and (state[-1].data == "finished" or state[-1].data.startswith("error"))


def audit_nodes(d, out, tmp_path, **sim):
    return {
        "simulator": NodeProcess("simulator", {"camera_every": 0, "action_timeout": 2.0, **sim}, d, tmp_path),
        "policy": NodeProcess("policy", {}, d, tmp_path),
        "perturbation": NodeProcess("perturbation", {}, d, tmp_path),
        "analysis": NodeProcess("analysis", {"out_dir": str(out), "searcher": "uniform"}, d, tmp_path),
        "adversary": NodeProcess("adversary", {"out_dir": str(out), "searcher": "uniform", "episodes": BUDGET,
                                               "control_episodes": CONTROL, "retry_initial": 1.0}, d, tmp_path),
    }


def restart(nodes, name, tmp_path, d, params):
    nodes[name].stop()
    time.sleep(2)
    nodes[name] = NodeProcess(name, params, d, tmp_path)


def expected_ids():
    return {f"control-{i:04d}" for i in range(CONTROL)} | {f"uniform-{j:06d}" for j in range(BUDGET)}


def test_policy_node_that_dies_mid_audit_aborts_its_episode_and_the_audit_goes_on_when_it_is_back(tmp_path):
    d, out = domain(), tmp_path / "audit"
    nodes = audit_nodes(d, out, tmp_path)
    client = GraphClient(d, name="policy_crash")
    try:
        state = client.collect(String, names.node_topic(names.ADVERSARY, names.AUDIT_STATE), LATCHED)
        diagnostics = client.collect(DiagnosticArray, names.DIAGNOSTICS, 10)
        log = out / LOG_NAME
        assert wait_until(lambda: log.exists() and len(load_log(log).episodes) >= 6, 240)
        nodes["policy"].stop()

        def adversary_waits():
            # the worker whose policy node left is out of service: "no worker available (live: none)"
            return any(s.name == "robofail: adversary" and s.level == DiagnosticStatus.WARN
                       and ("no worker available" in s.message or "no policy node" in s.message)
                       for a in list(diagnostics) for s in a.status)

        assert wait_until(adversary_waits, 60), nodes["adversary"].output()[-2500:]
        nodes["policy"] = NodeProcess("policy", {}, d, tmp_path)  # back: the audit goes on
        assert wait_until(lambda: finished(state), 300), nodes["adversary"].output()[-3000:]
        assert state[-1].data == "finished"
        records = load_log(log).episodes
        assert {r.episode_id for r in records} == expected_ids() and len(records) == BUDGET + CONTROL
        for r in records:
            if r.outcome == "aborted":
                assert "no action from a policy node" in r.reason
        results = __import__("json").loads((out / "results.json").read_text()) if wait_until(
            lambda: (out / "results.json").exists(), 30) else {}
        aborted = sum(r.outcome == "aborted" for r in records)
        assert results["aborted_episodes"] == aborted
        assert sum(p["episodes"] for p in results["perturbations"]) + results["control"]["episodes"] \
            == len(records) - aborted  # aborted episodes are in the log, never in the rates
    finally:
        client.close()
        for n in nodes.values():
            n.stop()


def test_adversary_and_analysis_killed_and_restarted_lose_nothing_and_publish_the_same_statistics(tmp_path):
    d, out = domain(), tmp_path / "audit"
    nodes = audit_nodes(d, out, tmp_path)
    adversary_params = {"out_dir": str(out), "searcher": "uniform", "episodes": BUDGET, "control_episodes": CONTROL,
                        "retry_initial": 1.0}
    client = GraphClient(d, name="adversary_crash")
    try:
        state = client.collect(String, names.node_topic(names.ADVERSARY, names.AUDIT_STATE), LATCHED)
        log = out / LOG_NAME
        assert wait_until(lambda: log.exists() and len(load_log(log).episodes) >= 8, 240)
        restart(nodes, "adversary", tmp_path, d, adversary_params)  # SIGINT; a stuck one gets SIGKILL
        assert wait_until(lambda: state and state[-1].data == "finished", 300), nodes["adversary"].output()[-3000:]
        ids = [r.episode_id for r in load_log(log).episodes]
        assert len(ids) == len(set(ids)) and set(ids) == expected_ids()

        rates = client.collect(Float64MultiArray, names.node_topic(names.ANALYSIS, names.FAILURE_RATE), LATCHED)
        assert wait_until(lambda: rates and (out / "results.json").exists(), 60)
        time.sleep(1.0)
        before = list(rates[-1].data)
        nodes["analysis"].stop()
        watcher = GraphClient(d, name="late_watcher")
        try:
            nodes["analysis"] = NodeProcess("analysis", {"out_dir": str(out), "searcher": "uniform"}, d, tmp_path)
            after = watcher.collect(Float64MultiArray, names.node_topic(names.ANALYSIS, names.FAILURE_RATE), LATCHED)
            assert wait_until(lambda: after, 60)
            assert np.array_equal(np.array(after[-1].data), np.array(before), equal_nan=True)
        finally:
            watcher.close()
    finally:
        client.close()
        for n in nodes.values():
            n.stop()


def test_a_nan_action_aborts_the_episode_with_the_reason_and_leaves_the_simulator_sound(tmp_path, lift_sim):
    from robofail_ros.episode import run_episode
    from robofail_ros.policies import VisionScriptedPolicy

    d = domain()
    nodes = {"simulator": NodeProcess("simulator", {"camera_every": 0}, d, tmp_path),
             "policy": NodeProcess("policy", {"policy": "broken_policies:NaNPolicy"}, d, tmp_path)}
    client = GraphClient(d, name="nan_watcher")
    outcomes = client.collect(DiagnosticStatus, names.node_topic(names.SIMULATOR, names.EPISODE_OUTCOME), RELIABLE)
    try:
        record = run_graph_episode(client, outcomes, [], 2, "nan-1")
        assert record["outcome"] == "aborted" and "NaN" in record["reason"] and record["policy_id"] == "nan_policy"
        nodes["policy"].stop()
        nodes["policy"] = NodeProcess("policy", {}, d, tmp_path)
        assert wait_until(lambda: client.node.count_publishers(names.node_topic(names.POLICY, names.ACTION)) > 0, 60)
        time.sleep(1.0)
        sound = run_graph_episode(client, outcomes, [], 2, "after-nan")
        policy = VisionScriptedPolicy()
        policy.bind(lift_sim.scene)
        local = run_episode(lift_sim, policy, [], 2)
        assert (sound["outcome"], sound["steps"]) == (local.outcome, local.steps)
    finally:
        client.close()
        for n in nodes.values():
            n.stop()


def test_images_of_the_wrong_size_abort_the_episode_with_the_reason(tmp_path):
    d = domain()
    nodes = [NodeProcess("simulator", {"camera_every": 0, "image_size": 64}, d, tmp_path),
             NodeProcess("policy", {}, d, tmp_path)]
    client = GraphClient(d, name="size_watcher")
    outcomes = client.collect(DiagnosticStatus, names.node_topic(names.SIMULATOR, names.EPISODE_OUTCOME), RELIABLE)
    try:
        assert wait_until(lambda: client.node.count_publishers(names.node_topic(names.POLICY, names.ACTION)) > 0, 60)
        record = run_graph_episode(client, outcomes, [], 0, "wrong-size")
        assert record["outcome"] == "aborted"
        assert "agentview image is 64x64, the policy reads 84x84" in record["reason"]
        assert all(n.alive() for n in nodes)
    finally:
        client.close()
        for n in nodes:
            n.stop()


def test_a_malformed_params_file_stops_a_node_with_one_clear_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("/**/simulator:\n  ros__parameters:\n    task: [Lift\n")
    node = NodeProcess("simulator", {}, domain(), tmp_path, params_file=bad)
    assert node.proc.wait(timeout=60) != 0
    assert "cannot start" in node.output() and "Traceback" not in node.output()
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("/**/simulator:\n  ros__parameters:\n    task: Pour\n")
    node = NodeProcess("simulator", {}, domain(), tmp_path, params_file=wrong)
    assert node.proc.wait(timeout=60) != 0
    assert "cannot start" in node.output() and "unknown task 'Pour'" in node.output()


def test_a_corrupt_ppo_checkpoint_is_refused_with_what_to_do_and_the_log_is_kept(tmp_path):
    config = AuditConfig(searcher="ppo", episodes=8, control_episodes=1, workers=1, ppo=PPOConfig(n_steps=4))
    run_audit(config, tmp_path, film=False)
    log_before = (tmp_path / LOG_NAME).read_bytes()
    checkpoint = tmp_path / "ppo_adversary.zip"
    checkpoint.write_bytes(checkpoint.read_bytes()[:200])  # cut short, as by a full disk
    assert not zipfile.is_zipfile(checkpoint)
    with pytest.raises(CheckpointError, match="delete ppo_adversary.zip to continue with a fresh PPO"):
        run_audit(AuditConfig(searcher="ppo", episodes=12, control_episodes=1, workers=1, ppo=PPOConfig(n_steps=4)),
                  tmp_path, film=False)
    assert (tmp_path / LOG_NAME).read_bytes() == log_before


def test_an_adversary_pointed_at_a_folder_another_audit_holds_refuses_at_once_naming_it(tmp_path):
    """A CLI audit and a ROS adversary on one out_dir: the adversary says who holds it, before any worker joins,
    and writes nothing (without the lock both appended, every episode id twice)."""
    from robofail_ros.record import FolderLock

    out = tmp_path / "audit"
    run_audit(AuditConfig(searcher="uniform", episodes=1, control_episodes=1, workers=1), out, film=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    lock = FolderLock(out).acquire()  # this test process plays the first audit
    try:
        node = NodeProcess("adversary", {"out_dir": str(out), "searcher": "uniform", "episodes": 1,
                                         "control_episodes": 1, "exit_when_done": True}, domain(), tmp_path)
        assert node.proc.wait(timeout=120) != 0, node.output()[-2000:]
        assert f"in use by pid {os.getpid()}" in node.output() and "Traceback" not in node.output()
    finally:
        lock.release()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
