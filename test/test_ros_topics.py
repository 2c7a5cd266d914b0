"""What a person watching the graph sees: the headline P(failure | env) after every episode, TF, and `active`.

Real node processes (simulator, policy, perturbation, analysis); the test drives episodes itself through the
simulator's parameters and `~/run_episode`, as the adversary does, so it knows what each estimate must be.
"""
from __future__ import annotations

import math
import os
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from sensor_msgs.msg import CameraInfo  # noqa: E402
from std_msgs.msg import Float64, Float64MultiArray, String  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from robofail_ros import names  # noqa: E402
from robofail_ros.analysis import analyse  # noqa: E402
from robofail_ros.catalogue import load_catalogue  # noqa: E402
from robofail_ros.episode import EpisodeRecord  # noqa: E402
from robofail_ros.frames import optical_frame, scene_transforms  # noqa: E402
from robofail_ros.nodes.common import LATCHED, RELIABLE, SENSOR  # noqa: E402
from robofail_ros.obs_codec import record_from_strings  # noqa: E402
from robofail_ros.stats import entropy_nats, failure_distribution  # noqa: E402
from ros_graph import ROOT, GraphClient, NodeProcess, wait_until  # noqa: E402
from test_ros_nodes import set_simulator  # noqa: E402  (what `ros2 param set /robofail/simulator …` sends)

try:
    from tf2_msgs.msg import TFMessage
except ImportError:  # PyPI has no tf2_msgs wheel; a ROS install has it
    TFMessage = None

SIM = names.node_topic(names.SIMULATOR, "").rstrip("/")
ANALYSIS = lambda relative, **fmt: names.node_topic(names.ANALYSIS, relative, **fmt)  # noqa: E731
LIFT = load_catalogue("Lift")


def domain() -> int:
    return 51 + (os.getpid() + time.time_ns() // 1000) % 50  # 51-100: apart from test_ros_nodes' 1-50


GRAPH_DOMAIN = domain()  # the module graph's; it lives through every test here, so no other graph may share it


def another_domain() -> int:
    """A domain in 51-100 that is never the module graph's (a random pick collided 1 time in 50: seen in CI, a
    continuous audit's analysis node heard the graph's 27-perturbation headline instead of its own)."""
    return 51 + (GRAPH_DOMAIN - 51 + 1 + (os.getpid() + time.time_ns() // 1000) % 49) % 50


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    """simulator + policy + perturbation + analysis (default searcher, empty audit folder) and a client."""
    d = GRAPH_DOMAIN
    logs = tmp_path_factory.mktemp("logs")
    # the nodes see what this process sees (e.g. a tf2_msgs built outside the project)
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), str(ROOT / "test"),
                                                       os.environ.get("PYTHONPATH")]))}
    nodes = {n: NodeProcess(n, params, d, logs, env=env) for n, params in (
        ("simulator", {"camera_every": 0, "action_timeout": 5.0}), ("policy", {}), ("perturbation", {}),
        ("analysis", {"out_dir": str(logs / "audit"), "publish_rate": 5.0}))}
    client = GraphClient(d, name="topics_watcher")
    outcomes = client.collect(DiagnosticStatus, names.node_topic(names.SIMULATOR, names.EPISODE_OUTCOME), RELIABLE)
    infos = client.collect(CameraInfo, names.node_topic(names.SIMULATOR, names.CAMERA_INFO, camera="agentview"), SENSOR)
    assert wait_until(lambda: infos, 120), "no camera_info from the simulator:\n" + nodes["simulator"].output()
    assert wait_until(lambda: client.node.count_publishers(ANALYSIS(names.P_FAILURE)) > 0, 60), \
        nodes["analysis"].output()
    yield client, nodes, outcomes, infos
    client.close()
    for n in nodes.values():
        n.stop()


def run_episode(client, outcomes, perturbations: list[str], seed: int, episode_id: str) -> EpisodeRecord:
    assert all(r.successful for r in set_simulator(client, perturbations=perturbations, episode_seed=seed,
                                                   episode_id=episode_id))
    before = len(outcomes)
    assert client.call(Trigger, names.node_topic(names.SIMULATOR, names.RUN_EPISODE)).success
    assert wait_until(lambda: len(outcomes) > before, 120)
    return EpisodeRecord.from_json(record_from_strings({kv.key: kv.value for kv in outcomes[-1].values}))


# -- 1. the headline ------------------------------------------------------------------------------------------------
def test_without_a_pi_the_headline_is_the_episodes_failure_distribution_after_every_episode(graph):
    client, nodes, outcomes, _ = graph
    headline = client.collect(Float64MultiArray, ANALYSIS(names.P_FAILURE), LATCHED)
    entropy = client.collect(Float64, ANALYSIS(names.ENTROPY), LATCHED)
    posterior = client.collect(Float64MultiArray, ANALYSIS(names.POSTERIOR_P_FAILURE), LATCHED)
    red = client.collect(Float64, ANALYSIS(names.P_FAILURE_ONE, name="table_red"), LATCHED)
    source = client.collect(String, ANALYSIS(names.P_FAILURE_SOURCE), LATCHED)
    # before any episode: uniform over the catalogue, maximal entropy (a late subscriber gets it: latched)
    assert wait_until(lambda: headline and entropy and source, 60), nodes["analysis"].output()
    assert headline[-1].data.tolist() == pytest.approx([1 / len(LIFT)] * len(LIFT))
    assert entropy[-1].data == pytest.approx(math.log(len(LIFT)))
    assert source[-1].data.startswith("beta_posterior:")
    assert headline[-1].layout.dim[0].label == "perturbation; source=beta_posterior"

    records: list[EpisodeRecord] = []
    for i, perturbations in enumerate((["table_red"], [], ["cube_green"], ["table_red"])):
        records.append(run_episode(client, outcomes, perturbations, 100 + i, f"topics-{i}"))
        expected = failure_distribution([(e.failures, e.episodes) for e in
                                         analyse(records, LIFT, "vision_scripted", "adaptive").perturbations])
        assert wait_until(lambda: np.allclose(headline[-1].data, expected, atol=1e-12), 30), \
            f"after episode {i}: {list(headline[-1].data)} != {expected}"
        assert wait_until(lambda: entropy[-1].data == pytest.approx(entropy_nats(expected)), 10)
        assert posterior[-1].data.tolist() == pytest.approx(expected)
        assert red[-1].data == pytest.approx(expected[LIFT.names.index("table_red")])
    diagnostics = client.collect(DiagnosticArray, names.DIAGNOSTICS, 10)  # sent on every tick
    assert wait_until(lambda: diagnostics, 10)
    rows = {status.name: status for status in diagnostics[-1].status}
    assert "source beta_posterior" in rows["robofail: P(failure | env)"].message
    values = {kv.key: kv.value for kv in rows["robofail: table_red"].values}
    assert float(values["p_failure"]) == pytest.approx(red[-1].data, abs=1e-4)
    assert float(values["p_failure_posterior"]) == pytest.approx(red[-1].data, abs=1e-4)
    # where the failures stopped: every failed episode counted once, by the furthest stage of Lift it reached
    stages = client.collect(Float64MultiArray, ANALYSIS(names.FAILURE_STAGES), LATCHED)
    failed = [r for r in records if r.failed]
    assert wait_until(lambda: stages and sum(stages[-1].data) == len(failed), 30), stages and stages[-1]
    order = stages[-1].layout.dim[0].label.removeprefix("furthest stage: ").split("|")
    assert order == ["none", "grasped the cube", "lifted the cube"]
    assert dict(zip(order, stages[-1].data)) == {s: sum(r.stage == s for r in failed) for s in order}
    red_failed = [r for r in failed if r.perturbations == ["table_red"]]
    assert (values["failed_at"] != "") == bool(red_failed), values["failed_at"]


def test_a_continuous_audits_headline_is_published_after_every_episode(tmp_path):
    """The analysis node of a continuous audit (no fit yet): P(failure) of the searched scenes and of the control."""
    d = another_domain()
    nodes = [NodeProcess("simulator", {"camera_every": 0}, d, tmp_path), NodeProcess("policy", {}, d, tmp_path),
             NodeProcess("analysis", {"out_dir": str(tmp_path / "audit"), "searcher": "sobol", "fit_every": 0,
                                      "publish_rate": 5.0}, d, tmp_path)]
    client = GraphClient(d, name="scene_topics_watcher")
    try:
        outcomes = client.collect(DiagnosticStatus, names.node_topic(names.SIMULATOR, names.EPISODE_OUTCOME), RELIABLE)
        headline = client.collect(Float64MultiArray, ANALYSIS(names.P_FAILURE), LATCHED)
        searched = client.collect(Float64, ANALYSIS(names.SCENES_P_FAILURE_ONE, name="searched"), LATCHED)
        assert wait_until(lambda: headline, 120), nodes[2].output()
        assert headline[-1].data.tolist() == [0.5, 0.5]  # Beta(1, 1) before any episode
        outcome_topic = names.node_topic(names.SIMULATOR, names.EPISODE_OUTCOME)
        assert wait_until(lambda: client.node.count_publishers(outcome_topic) > 0, 120), nodes[0].output()
        records = [run_episode(client, outcomes, [], 7, "control-0")]
        assert set_simulator(client, **{names.factor_parameter("table_hue"): 0.6})[0].successful
        records.append(run_episode(client, outcomes, [], 8, "scene-0"))
        assert records[1].scene is not None and records[0].scene is None
        k = int(records[1].failed), int(records[0].failed)
        expected = [(k[0] + 1) / 3, (k[1] + 1) / 3]
        assert wait_until(lambda: headline[-1].data.tolist() == pytest.approx(expected), 30), headline[-1].data
        assert searched[-1].data == pytest.approx(expected[0])
        assert headline[-1].layout.dim[0].label == "searched,control; source=scene_posterior"
    finally:
        client.close()
        for n in nodes:
            n.stop()


# -- 3. TF ----------------------------------------------------------------------------------------------------------
def test_the_transforms_place_every_camera_so_that_camera_info_projects_like_the_simulation(lift_sim):
    """world -> camera -> optical frame, with K from camera_info, reproduces the simulation's own projection."""
    from robofail_ros.nodes.common import camera_info_message

    transforms = {(t.parent, t.child): t for t in scene_transforms(lift_sim.model, lift_sim.data,
                                                                   lift_sim.scene.cameras)}
    assert (names.WORLD_FRAME, names.TABLE_FRAME) in transforms
    point = np.array([0.05, -0.03, lift_sim.scene.table_height, 1.0])  # on the table, off centre
    for camera in ("agentview", "frontview", "birdview"):
        world_camera = transforms[(names.WORLD_FRAME, camera)].matrix()
        camera_optical = transforms[(camera, optical_frame(camera))].matrix()
        in_optical = np.linalg.inv(world_camera @ camera_optical) @ point
        info = camera_info_message(lift_sim.camera_model(camera, 84), None, optical_frame(camera))
        k = np.array(info.k).reshape(3, 3)
        u, v, w = k @ in_optical[:3]
        assert w > 0, f"{camera}: the table is behind the optical frame"
        assert (u / w, v / w) == pytest.approx(lift_sim.camera_model(camera, 84).project(point[:3]), abs=1e-6)


@pytest.mark.skipif(TFMessage is None, reason="tf2_msgs is not installed (no PyPI wheel; a ROS install has it)")
def test_tf_static_has_the_world_the_table_and_every_camera_and_camera_info_names_the_optical_frame(graph):
    client, nodes, _, infos = graph
    tf = client.collect(TFMessage, names.TF_STATIC, LATCHED)
    assert wait_until(lambda: tf, 30), nodes["simulator"].output()
    edges = {(t.header.frame_id, t.child_frame_id) for t in tf[-1].transforms}
    assert (names.WORLD_FRAME, names.TABLE_FRAME) in edges
    for camera in ("agentview", "frontview", "birdview", "sideview", "robot0_eye_in_hand"):
        assert {(names.WORLD_FRAME, camera), (camera, optical_frame(camera))} <= edges
    assert infos[-1].header.frame_id == optical_frame("agentview")


# -- 4. one source of truth for what is active ----------------------------------------------------------------------
def test_active_follows_the_simulator_parameter_however_it_is_set(graph):
    client, nodes, _, _ = graph
    active = client.collect(String, names.node_topic(names.PERTURBATION, names.ACTIVE), LATCHED)
    assert client.call(Trigger, names.node_topic(names.PERTURBATION, names.APPLY, name="table_red")).success
    assert wait_until(lambda: active and active[-1].data == "table_red", 30), active and active[-1].data
    # the route the README offers as equivalent: the parameter itself
    assert set_simulator(client, perturbations=["cube_green", "light_dim"])[0].successful
    assert wait_until(lambda: active[-1].data == "cube_green\nlight_dim", 30), active[-1].data
    assert set_simulator(client, **{names.factor_parameter("table_hue"): 0.5})[0].successful
    assert wait_until(lambda: active[-1].data == "cube_green\nlight_dim\nfactors.table_hue=0.5", 30), active[-1].data
    assert set_simulator(client, perturbations=[], **{names.factor_parameter("table_hue"): 0.15})[0].successful
    assert wait_until(lambda: active[-1].data == "", 30), active[-1].data
    # a refused value changes nothing
    assert not set_simulator(client, perturbations=["table_pink"])[0].successful
    time.sleep(0.5)
    assert active[-1].data == ""


# -- the definitions behind the topics (no processes) ---------------------------------------------------------------
def record(episode_id: str, outcome: str, perturbations=(), scene=None) -> EpisodeRecord:
    return EpisodeRecord(episode_id, 0, list(perturbations), outcome, 10, 0.0, 0.0, "p", "Lift", scene=scene)


def test_the_failure_distribution_is_the_normalised_beta_posterior_mean_of_each_perturbation():
    # (k + 1) / (n + 2): untried 1/2, 3 of 3 failed 4/5, 0 of 8 failed 1/10; normalised by their sum 1.4
    assert failure_distribution([(0, 0), (3, 3), (0, 8)]) == pytest.approx([0.5 / 1.4, 0.8 / 1.4, 0.1 / 1.4])
    assert failure_distribution([(0, 0)] * 4) == [0.25] * 4


def test_with_a_pi_the_headline_is_pi_and_the_posterior_stays_beside_it():
    from robofail_ros.nodes.analysis import SOURCE_PI, headline

    pi = [0.5] + [0.5 / (len(LIFT) - 1)] * (len(LIFT) - 1)
    a = analyse([record("a", "failure", ["table_red"]), record("b", "aborted", ["cube_red"])], LIFT, "p", "ppo", pi=pi)
    h = headline(a)
    assert (h.source, h.p_failure, h.entropy) == (SOURCE_PI, pi, pytest.approx(entropy_nats(pi)))
    counts = [(1, 1) if n == "table_red" else (0, 0) for n in LIFT.names]  # the aborted episode does not count
    assert h.posterior == pytest.approx(failure_distribution(counts))


def test_a_continuous_headline_is_the_searched_and_control_posterior_means_and_nan_entropy_before_a_fit():
    from robofail_ros.factors import load_factor_space
    from robofail_ros.nodes.scene_analysis import scene_headline

    scene = {"table_hue": 0.5}
    records = [record("c0", "success"), record("s0", "failure", scene=scene), record("s1", "failure", scene=scene),
               record("s2", "success", scene=scene), record("s3", "aborted", scene=scene)]
    h = scene_headline(records, None, load_factor_space("Lift"))
    assert h.p_failure == pytest.approx(((2 + 1) / (3 + 2), (0 + 1) / (1 + 2))) and h.episodes == 3
    assert math.isnan(h.entropy)



def test_the_top_pair_topic_says_whether_the_strongest_pair_is_claimed_or_only_ranked_first():
    from robofail_ros.analysis import RateEstimate
    from robofail_ros.continuous.result import Interaction, SceneAnalysis
    from robofail_ros.nodes.scene_analysis import top_pair_text

    a = SceneAnalysis(task="Lift", policy_id="p", searcher="boundary", factors=[], episodes=40, failures=9,
                      control=RateEstimate.measure("control", "control", [False] * 10))
    assert top_pair_text(a).startswith("none: ")
    a.pair_ranking = [Interaction(("cube_hue", "robot_value"), 0.08, 0.12)]
    assert top_pair_text(a) == ("cube_hue × robot_value: S2 = 0.08 ± 0.12, interval includes 0: ranked first, "
                                "not claimed")
    a.pair_ranking = a.interactions = [Interaction(("cube_hue", "robot_value"), 0.3, 0.1)]
    assert top_pair_text(a) == "cube_hue × robot_value: S2 = 0.30 ± 0.10, interacting"

def test_no_per_entry_topic_sits_under_another_topic_which_rqt_plot_would_resolve_instead():
    """rqt_plot takes the first topic that is a prefix of `/a/b/c/data`: `p_failure/<name>` beside `p_failure`
    could never be plotted (the shipped perspective once restored empty plots for that reason)."""
    vectors = [names.P_FAILURE, names.POSTERIOR_P_FAILURE, names.FAILURE_RATE, names.ENTROPY, names.POSTERIOR_ENTROPY,
               names.THRESHOLDS, names.SOBOL_FIRST, names.SOBOL_TOTAL, names.SOBOL_TOTAL_LOWER, names.LABELS,
               names.MARKERS]
    for one in (names.P_FAILURE_ONE, names.POSTERIOR_P_FAILURE_ONE, names.FAILURE_RATE_ONE, names.THRESHOLD_ONE,
                names.SOBOL_TOTAL_ONE, names.SCENES_P_FAILURE_ONE):
        topic = one.format(name="table_red")
        assert not any(topic.startswith(vector + "/") for vector in vectors), (one, vectors)
