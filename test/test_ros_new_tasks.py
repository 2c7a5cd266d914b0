"""`task:=PickPlaceCan` and `task:=NutAssemblySquare` through the ROS graph: the five nodes the launch file starts,
given the task as the launch file gives it (test_launch checks that mapping), run a small expert audit of that task
and serve its catalogue (issue 14 item 5). Real processes, no launch needed."""
from __future__ import annotations

import pytest

rclpy = pytest.importorskip("rclpy")

from std_msgs.msg import String  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from robofail_ros import names  # noqa: E402
from robofail_ros.catalogue import load_catalogue  # noqa: E402
from robofail_ros.nodes.common import LATCHED  # noqa: E402
from robofail_ros.record import load_log  # noqa: E402
from ros_graph import GraphClient, NodeProcess, wait_until  # noqa: E402
from test_ros_nodes import domain  # noqa: E402


@pytest.mark.parametrize("task", ["PickPlaceCan", "NutAssemblySquare"])
def test_a_small_expert_audit_of_the_task_runs_through_the_graph(task, tmp_path):
    d = domain()
    out = tmp_path / "audit"
    common = {"task": task}
    nodes = [NodeProcess("simulator", {**common, "camera_every": 0}, d, tmp_path),
             NodeProcess("policy", {**common, "policy": "expert"}, d, tmp_path),
             NodeProcess("perturbation", common, d, tmp_path),
             NodeProcess("analysis", {**common, "out_dir": str(out), "searcher": "uniform"}, d, tmp_path),
             NodeProcess("adversary", {**common, "out_dir": str(out), "policy": "expert", "searcher": "uniform",
                                       "episodes": 2, "control_episodes": 1}, d, tmp_path)]
    client = GraphClient(d, name="task_watcher")
    try:
        listing = client.call(Trigger, names.node_topic(names.PERTURBATION, names.LIST), wait=120)
        assert listing.success and f"perturbations of {task}" in listing.message
        assert all(n in listing.message for n in load_catalogue(task).names)
        state = client.collect(String, names.node_topic(names.ADVERSARY, names.AUDIT_STATE), LATCHED)
        assert wait_until(lambda: state and (state[-1].data == "finished" or "error" in state[-1].data), 400), \
            "\n".join(n.output()[-2000:] for n in nodes)
        assert state[-1].data == "finished", nodes[-1].output()
        episodes = load_log(out / "episodes.jsonl").episodes
        assert len(episodes) == 3 and {e.task for e in episodes} == {task}
        assert all(e.policy_id == "scripted_expert" and e.outcome in ("success", "failure") for e in episodes)
        control = [e for e in episodes if not e.perturbations]
        assert control and all(e.success for e in control)  # the nominal expert episode succeeds over ROS too
    finally:
        client.close()
        for n in nodes:
            n.stop()
