"""The ROS 2 layer on real processes: camera topics, perturbation services, lockstep episodes, a whole audit."""
from __future__ import annotations

import os
import re
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from rcl_interfaces.msg import Parameter as ParameterMsg, ParameterType, ParameterValue  # noqa: E402
from rcl_interfaces.srv import DescribeParameters, GetParameters, SetParameters  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Float64, Float64MultiArray, String  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from visualization_msgs.msg import MarkerArray  # noqa: E402

from robofail_ros import names  # noqa: E402
from robofail_ros.episode import run_episode  # noqa: E402
from robofail_ros.factors import load_factor_space  # noqa: E402
from robofail_ros.nodes.common import LATCHED, RELIABLE, SENSOR, image_array  # noqa: E402
from robofail_ros.obs_codec import record_from_strings  # noqa: E402
from robofail_ros.policies import VisionScriptedPolicy  # noqa: E402
from ros_graph import GraphClient, NodeProcess, wait_until  # noqa: E402

SIM = names.node_topic(names.SIMULATOR, "").rstrip("/")
CAMERA = names.node_topic(names.SIMULATOR, names.CAMERA_IMAGE, camera="agentview")


_GRAPH_DOMAINS: set[int] = set()
"""Domains of the module's graph fixture, which stays up while every other test here runs."""


def domain() -> int:
    """A ROS domain of our own (1-50; ids above 101 clash with ports), never the live module graph's.

    A random draw alone met the graph's domain 1 time in 50, and then the graph's nodes answered another test's
    requests: the perturbation node of the missing-simulator test found the graph's simulator ('table_red already
    active', a CI failure on 2026-12-03).
    """
    while True:
        d = 1 + (os.getpid() + time.time_ns() // 1000) % 50
        if d not in _GRAPH_DOMAINS:
            return d


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    """simulator + policy + perturbation nodes and a client; nodes are stopped SIGINT → SIGTERM → SIGKILL."""
    d = domain()
    _GRAPH_DOMAINS.add(d)
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
    _GRAPH_DOMAINS.discard(d)


def set_simulator(client, **values):
    params = []
    for name, value in values.items():
        v = ParameterValue()
        if isinstance(value, list):
            v.type, v.string_array_value = ParameterType.PARAMETER_STRING_ARRAY, value
        elif isinstance(value, str):
            v.type, v.string_value = ParameterType.PARAMETER_STRING, value
        elif isinstance(value, float):
            v.type, v.double_value = ParameterType.PARAMETER_DOUBLE, value
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


def test_the_observation_message_kept_between_steps_carries_each_step_exactly_and_relabels_a_new_layout(lift_sim):
    from robofail_ros.nodes.simulator import ObservationMessage
    from robofail_ros.obs_codec import flatten_observation, unflatten_observation

    builder = ObservationMessage()
    stamp = builder.msg.header.stamp
    obs = lift_sim.reset(0)
    for step in range(3):
        msg = builder.fill(obs, step, stamp)
        labels, values = flatten_observation(obs)
        assert list(msg.name) == labels + [f"{names.EPISODE_STEP}/0"] and list(msg.position) == values + [step]
        obs = lift_sim.step(np.zeros(lift_sim.action_dim))
    wider = dict(obs, cube_pos=np.arange(4.0))  # a layout change: the labels follow it
    msg = builder.fill(wider, 7, stamp)
    back = unflatten_observation(msg.name, msg.position)
    assert list(back["cube_pos"]) == [0.0, 1.0, 2.0, 3.0] and back[names.EPISODE_STEP][0] == 7.0
    assert len(builder.fill(obs, 8, stamp).name) == len(labels) + 1


def test_a_scene_set_through_factor_parameters_runs_the_headless_episode_and_is_recorded_in_full(graph, lift_sim):
    client, _, _, outcomes = graph
    space = load_factor_space("Lift")
    moved = {"cube_hue": 0.6, "camera_yaw": 4.0, "cube_mass": 3.0}
    try:
        results = set_simulator(client, **{names.factor_parameter(n): v for n, v in moved.items()})
        assert all(r.successful for r in results), [r.reason for r in results]
        remote = run_graph_episode(client, outcomes, [], 11, "scene-11")
    finally:
        set_simulator(client, **{names.factor_parameter(n): space.get(n).nominal for n in moved})
    full = space.scene(space.vector(moved))
    assert remote["scene"] == full  # every factor, the nominal ones too, so the log alone places the episode
    policy = VisionScriptedPolicy()
    policy.bind(lift_sim.scene)
    local = run_episode(lift_sim, policy, [], 11, scene=full)
    assert (remote["outcome"], remote["steps"], remote["perturbations"]) == (local.outcome, local.steps, [])


def test_every_factor_is_a_double_parameter_with_its_range_unit_and_meaning(graph):
    client = graph[0]
    space = load_factor_space("Lift")
    params = [names.factor_parameter(f.name) for f in space.factors]
    described = client.call(DescribeParameters, SIM + "/describe_parameters",
                            DescribeParameters.Request(names=params)).descriptors
    values = client.call(GetParameters, SIM + "/get_parameters", GetParameters.Request(names=params)).values
    assert len(described) == len(values) == space.dim >= 15
    for f, descriptor, value in zip(space.factors, described, values):
        assert descriptor.type == value.type == ParameterType.PARAMETER_DOUBLE
        assert value.double_value == f.nominal  # a fresh simulator shows the nominal scene
        (span,) = descriptor.floating_point_range  # rqt_reconfigure's slider
        assert (span.from_value, span.to_value, span.step) == (f.low, f.high, 0.0)
        assert f.description in descriptor.description and f.scale in descriptor.description
        assert f"nominal value {f.nominal:g}" in descriptor.description
        unit = f" {f.unit}" if f.unit else ""
        assert descriptor.additional_constraints == f"{f.low:g} <= value <= {f.high:g}{unit}"
        assert not descriptor.read_only


@pytest.mark.parametrize("value", [50.0, 0.01, float("nan"), float("inf")])
def test_a_factor_value_outside_its_range_is_refused_with_the_range(graph, value):
    client = graph[0]
    f = load_factor_space("Lift").get("light_intensity")
    result = set_simulator(client, **{names.factor_parameter(f.name): value})[0]
    assert not result.successful
    assert f"Min: {f.low}" in result.reason and f"Max: {f.high}" in result.reason, result.reason
    current = client.call(GetParameters, SIM + "/get_parameters",
                          GetParameters.Request(names=[names.factor_parameter(f.name)])).values[0]
    assert current.double_value == f.nominal  # nothing changed


def test_a_factor_set_by_parameter_shows_on_the_camera_at_once_and_nominal_restores_it(graph):
    client, _, images, _ = graph
    light, yaw = names.factor_parameter("light_intensity"), names.factor_parameter("camera_yaw")
    # Setting a factor re-shows the scene from the episode seed's initial state (an earlier test's episode may
    # have left the robot elsewhere): take the nominal picture from there.
    assert set_simulator(client, **{light: 1.0})[0].successful
    shown = len(images)
    assert wait_until(lambda: len(images) > shown + 1, 5.0)
    nominal = latest(images)
    assert set_simulator(client, **{light: 0.2})[0].successful
    assert wait_until(lambda: latest(images).mean() < nominal.mean() - 50, 5.0), "the light never dimmed"
    # An integer is what `ros2 param set … factors.camera_yaw -15` sends: the simulator takes it as -15.0 degrees.
    result = set_simulator(client, **{light: 1.0, yaw: -15})
    assert all(r.successful for r in result), [r.reason for r in result]
    assert wait_until(lambda: red_fraction(latest(images), nominal) > 0.2, 5.0), "the camera never turned"
    assert set_simulator(client, **{yaw: 0.0})[0].successful
    assert wait_until(lambda: np.array_equal(latest(images), nominal), 5.0), "nominal did not restore the image"


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


def test_a_simulator_that_stops_answering_cannot_hold_the_perturbation_services(tmp_path):
    """A request pending on a simulator that died used to hold the services' group forever: after the simulator
    came back, `clear` never answered. A frozen simulator (SIGSTOP) is that case, made deterministic.

    The freeze is kept well under the DDS participant lease (Fast DDS: 20 s) by a short `simulator_timeout`. With
    the default 10 s, the test's two waits froze the simulator for ~20 s, the lease expired (the node answered
    "left while it was asked…"), and whether the graph then re-discovered the thawed simulator's services was up
    to DDS: in 1 of 4 runs of this module (2026-12-06, another job on the second core) they stayed unavailable
    for the whole minute after the thaw, while 8 of 8 freezes of 20-30 s in a separate script came back in 1-3 s.
    That is discovery, not this node; it is why this test failed now and then in earlier module runs.
    """
    import signal

    timeout = 3.0
    d = domain()
    sim = NodeProcess("simulator", {"camera_every": 0}, d, tmp_path)
    node = NodeProcess("perturbation", {"simulator_timeout": timeout}, d, tmp_path)
    client = GraphClient(d, name="freeze_watcher")
    clear = names.node_topic(names.PERTURBATION, names.CLEAR)
    try:
        assert wait_until(lambda: client.call(Trigger, clear, timeout=60).success, 120), sim.output()
        os.killpg(sim.proc.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            apply = client.call(Trigger, names.node_topic(names.PERTURBATION, names.APPLY, name="table_red"),
                                timeout=3 * timeout)
            assert not apply.success and "did not report its perturbations within 3 s" in apply.message, \
                apply.message
            assert time.monotonic() - started < 2 * timeout
            assert not client.call(Trigger, clear, timeout=3 * timeout).success  # answered, too
        finally:
            os.killpg(sim.proc.pid, signal.SIGCONT)
        # the thawed simulator is served again, once discovery has seen it back
        answers: list[str] = []

        def cleared() -> bool:
            response = client.call(Trigger, clear, timeout=30)
            answers.append(response.message)
            return response.success

        assert wait_until(cleared, 60), (f"clear after the thaw answered {answers}\n--- perturbation node:\n"
                                         f"{node.output()[-3000:]}\n--- simulator:\n{sim.output()[-3000:]}")
        assert node.alive()
    finally:
        client.close()
        node.stop()
        sim.stop()


@pytest.mark.parametrize("value", [-1.0, 45.0])
def test_a_simulator_timeout_outside_what_the_adversary_waits_stops_the_perturbation_node_naming_it(tmp_path, value):
    """Not positive, or not under the adversary's wait for this node: the adversary would time out first."""
    node = NodeProcess("perturbation", {"simulator_timeout": value}, domain(), tmp_path)
    assert node.proc.wait(60) != 0
    assert f"simulator_timeout {value}: expected seconds above 0 and under 30" in node.output()


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
        assert [s.name for s in diagnostics[-1].status][:2] == ["robofail: P(failure | env)", "robofail: cube_red"]
        assert len(diagnostics[-1].status) == 1 + 27
        assert any(m.ns == "labels" for m in markers[-1].markers)
        from robofail_ros.record import load_log

        assert len(load_log(out / "episodes.jsonl").episodes) == 10
    finally:
        client.close()
        for n in nodes:
            n.stop()


def test_a_small_continuous_audit_through_the_graph_records_the_headless_scenes_and_states_and_publishes_its_analysis(
        tmp_path, lift_sim):
    from robofail_ros.config import AuditConfig, SceneSearchConfig, searched_state_seed
    from robofail_ros.record import load_log
    from robofail_ros.searchers.scenes import sobol_points

    d = domain()
    out = tmp_path / "audit"
    audit = {"out_dir": str(out), "searcher": "sobol"}
    nodes = [NodeProcess("simulator", {"camera_every": 0}, d, tmp_path), NodeProcess("policy", {}, d, tmp_path),
             NodeProcess("perturbation", {}, d, tmp_path),
             NodeProcess("analysis", {**audit, "fit_every": 2}, d, tmp_path),
             NodeProcess("adversary", {**audit, "episodes": 4, "control_episodes": 1, "initial_states": "fresh"},
                         d, tmp_path)]
    client = GraphClient(d, name="scene_audit_watcher")
    space = load_factor_space("Lift")
    try:
        state = client.collect(String, names.node_topic(names.ADVERSARY, names.AUDIT_STATE), LATCHED)
        diagnostics = client.collect(DiagnosticArray, names.DIAGNOSTICS, 10)
        assert wait_until(lambda: state and (state[-1].data == "finished" or "error" in state[-1].data), 240), \
            "\n".join(n.output()[-2000:] for n in nodes)
        assert state[-1].data == "finished", nodes[-1].output()[-3000:]
        records = load_log(out / "episodes.jsonl").episodes
        control = [r for r in records if r.scene is None]
        searched = sorted((r for r in records if r.scene is not None), key=lambda r: r.episode_id)
        assert len(control) == 1 and control[0].perturbations == [] and len(searched) == 4
        # The scenes a headless sweep of the same seed chooses, in full (every factor), each run as headless.
        expected = [space.scene(space.from_unit(u)) for u in sobol_points(space.dim, 4, 0)]
        assert [r.scene for r in searched] == expected
        # initial_states:=fresh: each searched scene from a state of its own, the seeds a headless audit draws.
        config = AuditConfig(searcher="sobol", control_episodes=1, search=SceneSearchConfig(initial_states="fresh"))
        assert [r.seed for r in searched] == [searched_state_seed(config, i, "sobol") for i in range(4)]
        assert control[0].seed not in {r.seed for r in searched}
        policy = VisionScriptedPolicy()
        policy.bind(lift_sim.scene)
        for r in searched:
            local = run_episode(lift_sim, policy, [], r.seed, scene=r.scene)
            assert (r.outcome, r.steps, r.searcher, r.worker) == (local.outcome, local.steps, "sobol", "main")
        # The analysis node's fit, latched: a late subscriber gets every vector over the factors.
        topic = lambda rel, **fmt: names.node_topic(names.ANALYSIS, rel, **fmt)  # noqa: E731
        labels = client.collect(String, topic(names.FACTOR_LABELS), LATCHED)
        thresholds = client.collect(Float64MultiArray, topic(names.THRESHOLDS), LATCHED)
        first = client.collect(Float64MultiArray, topic(names.SOBOL_FIRST), LATCHED)
        total = client.collect(Float64MultiArray, topic(names.SOBOL_TOTAL), LATCHED)
        total_lower = client.collect(Float64MultiArray, topic(names.SOBOL_TOTAL_LOWER), LATCHED)
        light = client.collect(Float64, topic(names.THRESHOLD_ONE, name="light_intensity"), LATCHED)
        light_total = client.collect(Float64, topic(names.SOBOL_TOTAL_ONE, name="light_intensity"), LATCHED)
        top_pair = client.collect(String, topic(names.SOBOL_TOP_PAIR), LATCHED)
        assert wait_until(lambda: labels and thresholds and first and total and total_lower and light and light_total
                          and top_pair, 120), nodes[3].output()[-3000:]
        # 4 episodes: a pair ranked first with its interval, or "none: <why>" (one-class outcomes, a flat model)
        assert re.fullmatch(r"\w+ × \w+: S2 = -?[\d.]+ ± [\d.]+, .+|none: .+", top_pair[-1].data), top_pair[-1].data
        assert labels[-1].data.splitlines() == space.names
        assert len(thresholds[-1].data) == len(first[-1].data) == len(total[-1].data) == space.dim
        assert len(total_lower[-1].data) == space.dim
        i = space.index("light_intensity")
        assert light_total[-1].data == pytest.approx(total[-1].data[i], nan_ok=True)
        assert np.isnan(light[-1].data) == np.isnan(thresholds[-1].data[i])
        assert wait_until(lambda: any(s.name == "robofail: scene analysis" and "fitted on 4" in s.message
                                      for a in diagnostics for s in a.status), 30)
        # … and, after the final fit, the continuous report from the log, as `robofail report` writes it.
        assert wait_until(lambda: (out / "results.json").exists(), 60), nodes[3].output()[-3000:]
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


# -- continuous audits: what the analysis node publishes, from a SceneAnalysis ------------------------------------
def scene_analysis(thresholds=(), sobol=(), rules=()):
    from robofail_ros.analysis import RateEstimate
    from robofail_ros.continuous.result import SceneAnalysis

    space = load_factor_space("Lift")
    return space, SceneAnalysis(task="Lift", policy_id="vision_scripted", searcher="sobol", factors=space.info(),
                                control=RateEstimate.measure("control", "control", [False] * 30), episodes=64,
                                failures=20, thresholds=list(thresholds), sobol=list(sobol), rules=list(rules))


def test_the_published_threshold_of_a_factor_is_its_crossing_nearest_nominal_and_nan_without_one():
    from robofail_ros.continuous.result import Threshold
    from robofail_ros.nodes.scene_analysis import nearest_thresholds

    # light_intensity is log-scaled around 1.0 in [0.1, 3]: 0.5 is nearer nominal than 2.5 by ratio (0.30 vs 0.42 of
    # the unit cube), though not by difference; camera_yaw has a band [6, 9] on one side.
    space, analysis = scene_analysis(thresholds=[
        Threshold("light_intensity", 2.5, 2.2, 2.8, "above"), Threshold("light_intensity", 0.5, 0.4, 0.6, "below"),
        Threshold("camera_yaw", 9.0, 8.0, 10.0, "below"), Threshold("camera_yaw", 6.0, 5.0, 7.0, "above")])
    values = dict(zip(space.names, nearest_thresholds(analysis, space)))
    assert values["light_intensity"] == 0.5 and values["camera_yaw"] == 6.0
    assert all(np.isnan(v) for n, v in values.items() if n not in ("light_intensity", "camera_yaw"))


def test_sobol_indices_are_published_in_factor_order_whatever_order_the_analysis_lists_them():
    from robofail_ros.continuous.result import SobolIndex
    from robofail_ros.nodes.scene_analysis import factor_vector, sobol_vectors

    first_factor = load_factor_space("Lift").names[0]
    space, analysis = scene_analysis(sobol=[SobolIndex("cube_value", 0.3, 0.05, 0.5, 0.06),
                                            SobolIndex(first_factor, 0.1, 0.02, 0.2, 0.03)])
    first, total, total_lower = sobol_vectors(analysis, space)
    assert (first[0], total[0], total_lower[0]) == pytest.approx((0.1, 0.2, 0.17))
    i = space.index("cube_value")
    assert (first[i], total[i], total_lower[i]) == pytest.approx((0.3, 0.5, 0.44))
    assert np.isnan(first[1]) and np.isnan(total[1]) and np.isnan(total_lower[1])  # not indexed: NaN, never 0
    msg = factor_vector(total)
    assert len(msg.data) == space.dim and msg.layout.dim[0].label == "factor" and msg.layout.dim[0].size == space.dim


@pytest.mark.parametrize("failures, level", [(1, DiagnosticStatus.OK), (5, DiagnosticStatus.WARN),
                                             (15, DiagnosticStatus.ERROR)])
def test_a_failure_rule_is_one_diagnostic_row_with_its_rate_interval_and_the_control(failures, level):
    from robofail_ros.analysis import RateEstimate
    from robofail_ros.continuous.result import Condition, FailureRule
    from robofail_ros.nodes.scene_analysis import rule_diagnostic

    _, analysis = scene_analysis()
    rate = RateEstimate.measure("rule", "rule", [True] * failures + [False] * (20 - failures))
    rule = FailureRule([Condition("light_intensity", "<", 0.35), Condition("cube_value", ">=", 0.4)], rate,
                       excess_over_control=rate.rate, text="light_intensity < 0.35 and cube_value >= 0.4: …")
    status = rule_diagnostic(2, rule, analysis.control)
    values = {kv.key: kv.value for kv in status.values}
    assert status.level == level and status.name == "robofail: rule 2" and status.message == rule.text
    assert values["rule"] == "light_intensity < 0.35 and cube_value >= 0.4"
    assert (values["episodes"], values["failures"]) == ("20", str(failures))
    assert float(values["rate"]) == pytest.approx(failures / 20, abs=1e-4)
    assert float(values["ci_low"]) == pytest.approx(rate.ci_low, abs=1e-4)
    assert float(values["ci_high"]) == pytest.approx(rate.ci_high, abs=1e-4)
    assert (values["control_rate"], values["control_episodes"]) == ("0.0000", "30")


def test_the_analysis_row_turns_yellow_and_says_why_when_the_model_contradicts_the_control():
    from robofail_ros.nodes.scene_analysis import fit_status

    _, analysis = scene_analysis()
    assert fit_status(analysis, 64, fitting=False).level == DiagnosticStatus.OK
    analysis.nominal_conflict = "the model puts P(failure) at the nominal scene at 98% [96%, 100%], but …"
    status = fit_status(analysis, 64, fitting=False)
    values = {kv.key: kv.value for kv in status.values}
    assert status.level == DiagnosticStatus.WARN and status.message.startswith("model and control disagree")
    assert values["model_vs_control"] == analysis.nominal_conflict


def test_continuous_turns_a_catalogue_searcher_into_the_continuous_default_and_keeps_the_others():
    from robofail_ros.config import DEFAULT_CONTINUOUS_SEARCHER, DISCRETE_SEARCHERS
    from robofail_ros.nodes.common import audit_searcher

    assert {audit_searcher(s, True) for s in DISCRETE_SEARCHERS} == {DEFAULT_CONTINUOUS_SEARCHER}
    assert audit_searcher("sobol", True) == audit_searcher("sobol", False) == "sobol"
    assert audit_searcher("ppo", False) == "ppo"
    assert audit_searcher("pso", True) == "pso"  # left for AuditConfig to refuse by name, not silently replaced
