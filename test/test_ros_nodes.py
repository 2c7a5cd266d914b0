"""The ROS 2 layer on real processes: camera topics, perturbation services, lockstep episodes, a whole audit."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from rcl_interfaces.msg import Parameter as ParameterMsg, ParameterType, ParameterValue  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Float64, Float64MultiArray, String  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from visualization_msgs.msg import MarkerArray  # noqa: E402

from robofail_ros import names  # noqa: E402
from robofail_ros.episode import run_episode  # noqa: E402
from robofail_ros.nodes.common import LATCHED, RELIABLE, SENSOR, image_array  # noqa: E402
from robofail_ros.obs_codec import record_from_strings  # noqa: E402
from robofail_ros.policies import VisionScriptedPolicy  # noqa: E402
from ros_graph import GraphClient, NodeProcess, wait_until  # noqa: E402

SIM = names.node_topic(names.SIMULATOR, "").rstrip("/")
CAMERA = names.node_topic(names.SIMULATOR, names.CAMERA_IMAGE, camera="agentview")


def domain() -> int:
    """A ROS domain of our own per test module, so parallel runs and other sessions do not cross-talk."""
    return 1 + (os.getpid() + time.time_ns() // 1000) % 50  # 1-50; ROS domain ids above 101 clash with ports


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    """simulator + policy + perturbation nodes and a client; nodes are stopped SIGINT → SIGTERM → SIGKILL."""
    d = domain()
    logs = tmp_path_factory.mktemp("logs")
    nodes = {n: NodeProcess(n, params, d, logs) for n, params in (
        ("simulator", {"camera_every": 0, "action_timeout": 3.0}), ("policy", {}), ("perturbation", {}))}
    client = GraphClient(d)
    images = client.collect(Image, CAMERA, SENSOR)
    outcomes = client.collect(DiagnosticStatus, names.node_topic(names.SIMULATOR, names.EPISODE_OUTCOME), RELIABLE)
    assert wait_until(lambda: images, 90), "no camera image from the simulator:\n" + nodes["simulator"].output()
    client.call(Trigger, names.node_topic(names.PERTURBATION, names.CLEAR))
    yield client, nodes, images, outcomes
    client.close()
    for n in nodes.values():
        n.stop()


def set_simulator(client, **values):
    params = []
    for name, value in values.items():
        v = ParameterValue()
        if isinstance(value, list):
            v.type, v.string_array_value = ParameterType.PARAMETER_STRING_ARRAY, value
        elif isinstance(value, str):
            v.type, v.string_value = ParameterType.PARAMETER_STRING, value
        else:
            v.type, v.integer_value = ParameterType.PARAMETER_INTEGER, value
        params.append(ParameterMsg(name=name, value=v))
    return client.call(SetParameters, SIM + "/set_parameters", SetParameters.Request(parameters=params)).results


def run_graph_episode(client, outcomes, perturbations, seed, episode_id):
    set_simulator(client, perturbations=perturbations, episode_seed=seed, episode_id=episode_id)
    before = len(outcomes)
    response = client.call(Trigger, names.node_topic(names.SIMULATOR, names.RUN_EPISODE))
    assert response.success and response.message == episode_id
    assert wait_until(lambda: len(outcomes) > before, 120)
    return record_from_strings({kv.key: kv.value for kv in outcomes[-1].values})


def latest(images) -> np.ndarray:
    return image_array(images[-1]).astype(int)


def red_fraction(frame: np.ndarray, nominal: np.ndarray) -> float:
    return float((np.abs(frame - nominal).sum(axis=2) > 60).mean())


def test_camera_shows_a_perturbation_at_once_and_clearing_restores_it(graph):
    client, _, images, _ = graph
    nominal = latest(images)
    response = client.call(Trigger, names.node_topic(names.PERTURBATION, names.APPLY, name="table_red"))
    assert response.success and "table_red" in response.message
    assert wait_until(lambda: red_fraction(latest(images), nominal) > 0.3, 5.0), "the camera never showed a red table"
    assert client.call(Trigger, names.node_topic(names.PERTURBATION, names.CLEAR)).success
    assert wait_until(lambda: np.array_equal(latest(images), nominal), 5.0), "clearing did not restore the image"


def test_unknown_perturbation_is_refused_with_the_names_that_are_known(graph):
    client = graph[0]
    result = set_simulator(client, perturbations=["table_pink"])[0]
    assert not result.successful
    assert "unknown perturbation 'table_pink'" in result.reason and "known: cube_red" in result.reason
    listing = client.call(Trigger, names.node_topic(names.PERTURBATION, names.LIST))
    assert listing.success and "table_red" in listing.message and "camera_shift_left" in listing.message


@pytest.mark.parametrize("perturbations, seed", [([], 3), (["table_red"], 5), (["cube_size_bar"], 7)])
def test_an_episode_through_the_graph_matches_the_headless_runner(graph, lift_sim, perturbations, seed):
    client, _, _, outcomes = graph
    remote = run_graph_episode(client, outcomes, perturbations, seed, f"match-{seed}")
    policy = VisionScriptedPolicy()
    policy.bind(lift_sim.scene)
    local = run_episode(lift_sim, policy, perturbations, seed)
    assert (remote["outcome"], remote["steps"], remote["perturbations"]) == (local.outcome, local.steps, perturbations)
    assert remote["policy_id"] == "vision_scripted"


def test_a_missing_policy_node_aborts_the_episode_instead_of_failing_it(graph):
    client, nodes, _, outcomes = graph
    nodes["policy"].stop()
    try:
        record = run_graph_episode(client, outcomes, [], 1, "orphan")
    finally:
        nodes["policy"] = NodeProcess("policy", {}, int(os.environ["ROS_DOMAIN_ID"]), nodes["policy"].log_path.parent)
    assert record["outcome"] == "aborted" and "no action from a policy node" in record["reason"]


def test_a_robomimic_checkpoint_acts_in_the_policy_node_as_it_does_headless(graph, lift_sim, tiny_zoo_models):
    from robofail_ros.policies import load_policy

    client, nodes, _, outcomes = graph
    spec = f"robomimic:{tiny_zoo_models['bc-low_dim']}"
    ids = client.collect(String, names.node_topic(names.POLICY, "policy_id"), LATCHED)
    nodes["policy"].stop()
    domain_id, logs = int(os.environ["ROS_DOMAIN_ID"]), nodes["policy"].log_path.parent
    nodes["policy"] = NodeProcess("policy", {"policy": spec}, domain_id, logs)
    try:
        assert wait_until(lambda: any(m.data.startswith("robomimic-") for m in ids), 90), nodes["policy"].output()
        remote = run_graph_episode(client, outcomes, ["table_red"], 5, "robomimic-5")
    finally:
        nodes["policy"].stop()
        nodes["policy"] = NodeProcess("policy", {}, domain_id, logs)
    local_policy = load_policy(spec)
    local_policy.bind(lift_sim.scene)
    local = run_episode(lift_sim, local_policy, ["table_red"], 5)
    assert remote["policy_id"] == local.policy_id and remote["outcome"] != "aborted", remote
    assert (remote["outcome"], remote["steps"]) == (local.outcome, local.steps)


def test_perturbation_services_report_a_missing_simulator(tmp_path):
    d = domain()
    node = NodeProcess("perturbation", {}, d, tmp_path)
    client = GraphClient(d, name="lonely_client")
    try:
        response = client.call(Trigger, names.node_topic(names.PERTURBATION, names.APPLY, name="table_red"), timeout=60)
        assert not response.success and "is not available" in response.message
        assert node.alive()
    finally:
        client.close()
        node.stop()


def test_a_small_audit_through_the_graph_publishes_live_statistics_and_writes_its_report(tmp_path):
    d = domain()
    out = tmp_path / "audit"
    nodes = [NodeProcess("simulator", {"camera_every": 0}, d, tmp_path), NodeProcess("policy", {}, d, tmp_path),
             NodeProcess("perturbation", {}, d, tmp_path),
             NodeProcess("analysis", {"out_dir": str(out)}, d, tmp_path),
             NodeProcess("adversary", {"out_dir": str(out), "searcher": "ppo", "episodes": 8, "control_episodes": 2,
                                       "n_steps": 4}, d, tmp_path)]
    client = GraphClient(d, name="audit_watcher")
    try:
        state = client.collect(String, names.node_topic(names.ADVERSARY, names.AUDIT_STATE), LATCHED)
        diagnostics = client.collect(DiagnosticArray, names.DIAGNOSTICS, 10)
        assert wait_until(lambda: state and state[-1].data in ("finished",) or (state and "error" in state[-1].data), 300), \
            "\n".join(n.output()[-2000:] for n in nodes)
        assert state[-1].data == "finished", nodes[-1].output()
        expected = {"results.json", "failure_rates.csv", "radar_vision_scripted.png", "heatmap_pi.png"}
        assert wait_until(lambda: expected <= {p.name for p in out.iterdir()}, 60)
        # a late subscriber still gets the latched values
        pi = client.collect(Float64MultiArray, names.node_topic(names.ANALYSIS, names.P_FAILURE), LATCHED)
        entropy = client.collect(Float64, names.node_topic(names.ANALYSIS, names.ENTROPY), LATCHED)
        red = client.collect(Float64, names.node_topic(names.ANALYSIS, names.P_FAILURE_ONE, name="table_red"), LATCHED)
        markers = client.collect(MarkerArray, names.node_topic(names.ANALYSIS, names.MARKERS), LATCHED)
        labels = client.collect(String, names.node_topic(names.ANALYSIS, names.LABELS), LATCHED)
        assert wait_until(lambda: pi and entropy and red and markers and labels and diagnostics, 30)
        assert len(pi[-1].data) == 27 and abs(sum(pi[-1].data) - 1.0) < 1e-5
        assert 0.0 <= entropy[-1].data <= np.log(27) + 1e-9
        assert labels[-1].data.splitlines()[6] == "table_red" and red[-1].data == pytest.approx(pi[-1].data[6])
        assert len(diagnostics[-1].status) == 27 and diagnostics[-1].status[0].name == "robofail: cube_red"
        assert any(m.ns == "labels" for m in markers[-1].markers)
        from robofail_ros.record import load_log

        assert len(load_log(out / "episodes.jsonl").episodes) == 10
    finally:
        client.close()
        for n in nodes:
            n.stop()


def test_a_simulator_that_dies_mid_audit_is_waited_for_and_no_episode_is_lost_or_counted_twice(tmp_path):
    d = domain()
    out = tmp_path / "audit"
    sim_params = {"camera_every": 0}
    sim = NodeProcess("simulator", sim_params, d, tmp_path)
    others = [NodeProcess("policy", {}, d, tmp_path), NodeProcess("perturbation", {}, d, tmp_path),
              NodeProcess("adversary", {"out_dir": str(out), "searcher": "uniform", "episodes": 30, "control_episodes": 2,
                                        "retry_initial": 1.0}, d, tmp_path)]
    client = GraphClient(d, name="crash_watcher")
    from robofail_ros.record import load_log

    log = out / "episodes.jsonl"
    try:
        state = client.collect(String, names.node_topic(names.ADVERSARY, names.AUDIT_STATE), LATCHED)
        diagnostics = client.collect(DiagnosticArray, names.DIAGNOSTICS, 10)
        assert wait_until(lambda: log.exists() and len(load_log(log).episodes) >= 8, 240), others[-1].output()
        sim.stop()  # the simulator dies mid-audit …
        time.sleep(3)
        sim = NodeProcess("simulator", sim_params, d, tmp_path)  # … and is brought back
        assert wait_until(lambda: state and state[-1].data in ("finished",) or (state and "error" in state[-1].data), 300)
        assert state[-1].data == "finished", others[-1].output()[-3000:]
        ids = [r.episode_id for r in load_log(log).episodes]
        assert len(ids) == len(set(ids)) == 32
        assert any(s.name == "robofail: adversary" and s.level == DiagnosticStatus.WARN
                   for a in diagnostics for s in a.status), "the adversary never said it was waiting"
        assert "retry 1/" in others[-1].output()
    finally:
        client.close()
        for n in [sim, *others]:
            n.stop()


def test_the_analysis_node_states_the_budget_the_audit_log_records(tmp_path):
    from robofail_ros.config import AuditConfig
    from robofail_ros.nodes.analysis import logged_budget
    from robofail_ros.record import LOG_NAME, AuditLog, load_log

    AuditLog(tmp_path / LOG_NAME).write_header({"config": AuditConfig(episodes=99).to_json()})
    assert logged_budget(load_log(tmp_path / LOG_NAME).header) == 99
    assert logged_budget(None) is None  # no audit started yet: the report says "episodes run" until it has one
