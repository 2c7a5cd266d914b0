"""The launch file, its default parameters and the RViz / rqt configs agree with the nodes and with each other.

The structural tests read the files (ast, YAML, JSON) and need neither `launch` nor a ROS install: a typo in
config/audit.yaml would otherwise do nothing at all (a node ignores a parameter it does not declare), and a
topic renamed in names.py would silently empty an RViz display. The tests at the bottom build the real launch
description; `launch` and `launch_ros` are not on PyPI, so they are skipped where those are absent (CI).
"""
from __future__ import annotations

import ast
import json
import re
import runpy
from pathlib import Path

import pytest
import yaml

from robofail_ros import names
from robofail_ros.catalogue import load_catalogue

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILE = ROOT / "launch" / "audit.launch.py"
PARAMS_FILE = ROOT / "config" / "audit.yaml"
RVIZ_FILE = ROOT / "config" / "robofail.rviz"
PERSPECTIVE_FILE = ROOT / "config" / "robofail.perspective"
NODES_DIR = ROOT / "src" / "robofail_ros" / "nodes"

NODES = (names.SIMULATOR, names.POLICY, names.PERTURBATION, names.ADVERSARY, names.ANALYSIS)
AUDIT_ARGUMENTS = {"task", "policy", "searcher", "continuous", "episodes", "seed", "initial_states", "out_dir",
                   "workers"}
ALL_ARGUMENTS = AUDIT_ARGUMENTS | {"params_file", "use_rviz", "first_worker", "audit", "policy_node", "keep_alive"}
CAMERA_TOPIC = names.node_topic(names.SIMULATOR, names.CAMERA_IMAGE, camera="agentview")
MARKER_TOPIC = names.node_topic(names.ANALYSIS, names.MARKERS)


# -- reading the files ----------------------------------------------------------------------------------------
def launch_tree() -> ast.Module:
    return ast.parse(LAUNCH_FILE.read_text())


def launch_constant(name: str):
    """A module-level `NAME = <literal>` of the launch file."""
    for node in launch_tree().body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node.value
    raise AssertionError(f"launch/audit.launch.py defines no {name}")


def launch_arguments_table() -> dict[str, tuple[str, ...]]:
    """ARGUMENTS of the launch file: launch argument -> the nodes that take it as a parameter of the same name."""
    table = launch_constant("ARGUMENTS")
    assert isinstance(table, ast.Dict), "ARGUMENTS must be a dict literal"
    result = {}
    for key, value in zip(table.keys, table.values):
        targets = value.elts[0]
        result[ast.literal_eval(key)] = tuple(ast.literal_eval(t) for t in targets.elts)
    return result


def calls(tree: ast.AST, func_name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, "id", getattr(n.func, "attr", None)) == func_name]


def declared_launch_arguments() -> set[str]:
    """Names of DeclareLaunchArgument calls with a literal name, plus those declared in a loop over ARGUMENTS."""
    declared = set()
    for call in calls(launch_tree(), "DeclareLaunchArgument"):
        first = call.args[0]
        if isinstance(first, ast.Constant):
            declared.add(first.value)
        else:  # DeclareLaunchArgument(name, ...) for name in ARGUMENTS
            declared |= set(launch_arguments_table())
    return declared


def launched_executables() -> set[str]:
    """Executables the launch file starts through its `node("<name>")` helper."""
    return {c.args[0].value for c in calls(launch_tree(), "node") if c.args and isinstance(c.args[0], ast.Constant)}


def declared_parameters(node: str) -> set[str]:
    """Parameters a node declares: `declare_parameter("x", …)` or its local alias `d("x", …)`."""
    source = (NODES_DIR / f"{node}.py").read_text()
    return set(re.findall(r'(?:declare_parameter|\bd)\(\s*"([A-Za-z_][A-Za-z0-9_]*)"', source))


def setup_kwargs(monkeypatch) -> dict:
    """The keyword arguments setup.py passes to setuptools.setup(), globs expanded in the repository root."""
    import setuptools

    captured = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: captured.update(kwargs))
    monkeypatch.chdir(ROOT)
    runpy.run_path(str(ROOT / "setup.py"), run_name="__main__")
    return captured


def rviz_displays() -> dict[str, dict]:
    config = yaml.safe_load(RVIZ_FILE.read_text())
    return {d["Class"]: d for d in config["Visualization Manager"]["Displays"]}


def perspective_plugins() -> dict[str, dict]:
    """Perspective groups of the plugin instances, by rqt's group name (plugin__<package>__<Class>__<serial>)."""
    data = json.loads(PERSPECTIVE_FILE.read_text())
    return data["groups"]["pluginmanager"]["groups"]


def perspective_value(group: dict, key: str):
    """A value as rqt imports it: {"type": "repr", "repr": <Python literal>}, or Qt's window and splitter state as
    {"type": "repr(QByteArray.hex)", "repr(QByteArray.hex)": "QtCore.QByteArray(b'<hex>')"} (returned as bytes)."""
    entry = group["keys"][key]
    if entry["type"] == "repr(QByteArray.hex)":
        match = re.fullmatch(r"QtCore\.QByteArray\((b'[0-9a-f]*')\)", entry["repr(QByteArray.hex)"])
        assert match, entry
        return bytes.fromhex(ast.literal_eval(match.group(1)).decode())
    assert entry["type"] == "repr"
    return ast.literal_eval(entry["repr"])


# -- launch file ↔ package ---------------------------------------------------------------------------------------
def test_the_launch_file_declares_the_audit_arguments_plus_params_file_and_use_rviz():
    assert set(launch_arguments_table()) == AUDIT_ARGUMENTS
    assert declared_launch_arguments() == ALL_ARGUMENTS


def test_the_launch_file_starts_the_five_nodes_in_the_package_namespace(monkeypatch):
    assert launched_executables() == set(NODES)
    assert ast.literal_eval(launch_constant("NAMESPACE")) == names.NAMESPACE.strip("/")
    assert ast.literal_eval(launch_constant("PACKAGE")) == setup_kwargs(monkeypatch)["name"]


def test_every_launched_executable_is_a_console_script_of_the_package(monkeypatch):
    scripts = {}
    for entry in setup_kwargs(monkeypatch)["entry_points"]["console_scripts"]:
        name, target = (part.strip() for part in entry.split("="))
        scripts[name] = target
    for node in launched_executables():
        assert scripts.get(node) == f"robofail_ros.nodes.{node}:main", f"no console script for {node}"


def test_every_launch_argument_is_a_parameter_each_of_its_target_nodes_declares():
    for argument, targets in launch_arguments_table().items():
        assert targets, f"launch argument {argument} reaches no node"
        for node in targets:
            assert argument in declared_parameters(node), f"{node} does not declare {argument!r}"
    # The launch file also sets camera_every on the simulator for policies that read every frame.
    assert "camera_every" in declared_parameters(names.SIMULATOR)


def test_setup_installs_the_launch_file_and_every_config_file(monkeypatch):
    installed = {}
    for destination, files in setup_kwargs(monkeypatch)["data_files"]:
        installed.setdefault(destination, set()).update(files)
    share = "share/robofail_ros"
    assert "launch/audit.launch.py" in installed[f"{share}/launch"]
    assert {"config/audit.yaml", "config/robofail.rviz", "config/robofail.perspective"} <= installed[f"{share}/config"]
    assert installed["share/ament_index/resource_index/packages"] == {"resource/robofail_ros"}


# -- default parameters ↔ nodes ----------------------------------------------------------------------------------
def test_the_params_file_has_a_wildcard_block_for_every_node():
    params = yaml.safe_load(PARAMS_FILE.read_text())
    assert set(params) == {f"/**/{node}" for node in NODES}
    for node in NODES:
        assert set(params[f"/**/{node}"]) == {"ros__parameters"}


@pytest.mark.parametrize("node", NODES)
def test_every_parameter_in_the_params_file_is_declared_by_its_node(node):
    given = set(yaml.safe_load(PARAMS_FILE.read_text())[f"/**/{node}"]["ros__parameters"])
    unknown = given - declared_parameters(node)
    assert not unknown, f"config/audit.yaml sets {sorted(unknown)} on {node}, which declares none of them"


def test_the_params_file_repeats_the_audit_defaults_exactly():
    """config/audit.yaml must restate AuditConfig's defaults, not drift from them (a ROS user gets the file's)."""
    from robofail_ros.config import AuditConfig

    defaults = AuditConfig()
    params = yaml.safe_load(PARAMS_FILE.read_text())
    adversary = params[f"/**/{names.ADVERSARY}"]["ros__parameters"]
    analysis = params[f"/**/{names.ANALYSIS}"]["ros__parameters"]
    assert (adversary["searcher"], adversary["control_episodes"], adversary["policy"]) == (
        defaults.searcher, defaults.control_episodes, defaults.policy)
    assert adversary["initial_states"] == defaults.search.initial_states
    # The budget is AuditConfig's own "0 = the mode's default", so a continuous audit gets its own default too.
    assert adversary["episodes"] == AuditConfig.__dataclass_fields__["episodes"].default
    assert AuditConfig(episodes=adversary["episodes"]).episodes == defaults.episodes
    assert analysis["searcher"] == defaults.searcher
    assert adversary["continuous"] is analysis["continuous"] is defaults.continuous is False


def test_the_searcher_argument_names_every_searcher_the_audit_accepts():
    from robofail_ros.config import SEARCHERS

    table = launch_constant("ARGUMENTS")
    description = next(ast.literal_eval(v.elts[2]) for k, v in zip(table.keys, table.values)
                       if ast.literal_eval(k) == "searcher")
    assert set(re.findall(r"\b\w+\b", description)) >= set(SEARCHERS), description


# -- RViz --------------------------------------------------------------------------------------------------------
def test_rviz_shows_the_failure_bars_in_the_world_frame_the_analysis_node_uses():
    config = yaml.safe_load(RVIZ_FILE.read_text())
    assert config["Visualization Manager"]["Global Options"]["Fixed Frame"] == "world"
    bar_markers = next(f for f in ast.walk(ast.parse((NODES_DIR / "analysis.py").read_text()))
                       if isinstance(f, ast.FunctionDef) and f.name == "bar_markers")
    frame_default = bar_markers.args.defaults[bar_markers.args.args.index(
        next(a for a in bar_markers.args.args if a.arg == "frame_id")) - len(bar_markers.args.args)]
    assert ast.literal_eval(frame_default) == "world"
    markers = rviz_displays()["rviz_default_plugins/MarkerArray"]
    assert markers["Topic"]["Value"] == MARKER_TOPIC
    # The analysis node publishes markers latched: a late RViz needs Transient Local to get the last bars.
    assert markers["Topic"]["Durability Policy"] == "Transient Local"
    assert markers["Topic"]["Reliability Policy"] == "Reliable"


def test_rviz_shows_the_camera_best_effort_like_the_sensor_data_publisher():
    image = rviz_displays()["rviz_default_plugins/Image"]
    assert image["Topic"]["Value"] == CAMERA_TOPIC
    assert image["Topic"]["Reliability Policy"] == "Best Effort"
    assert image["Topic"]["Durability Policy"] == "Volatile"


def test_rviz_has_a_grid():
    assert rviz_displays()["rviz_default_plugins/Grid"]["Enabled"] is True


# -- rqt ---------------------------------------------------------------------------------------------------------
def test_every_perspective_value_is_a_python_literal_as_rqt_imports_it():
    def walk(group):
        for key in group.get("keys", {}):
            perspective_value(group, key)
        for sub in group.get("groups", {}).values():
            walk(sub)

    walk(json.loads(PERSPECTIVE_FILE.read_text()))


def test_the_perspective_runs_three_plots_and_the_robot_monitor_with_a_group_per_instance():
    manager = json.loads(PERSPECTIVE_FILE.read_text())["groups"]["pluginmanager"]
    running = perspective_value(manager, "running-plugins")
    # exported from a real rqt, which has no rqt_image_view (C++): the camera is RViz's (config/robofail.rviz)
    assert running == {"rqt_plot/Plot": [1, 2, 3], "rqt_robot_monitor/RobotMonitor": [1]}
    expected_groups = {f"plugin__{plugin.replace('/', '__')}__{serial}"
                       for plugin, serials in running.items() for serial in serials}
    assert set(perspective_plugins()) == expected_groups


def test_rqt_plot_plots_entropy_p_failure_of_catalogue_perturbations_and_the_episode_counts():
    lift = load_catalogue("Lift").names
    plots = [perspective_value(group["groups"]["plugin"], "topics") for name, group in perspective_plugins().items()
             if name.startswith("plugin__rqt_plot__Plot__")]
    p_failure = {names.node_topic(names.ANALYSIS, names.P_FAILURE_ONE, name=n) + "/data" for n in lift}
    assert set(plots[0]) <= p_failure and len(plots[0]) == 5
    assert plots[1] == [names.node_topic(names.ANALYSIS, topic) + "/data"
                        for topic in (names.ENTROPY, names.POSTERIOR_ENTROPY)]
    assert plots[2] == [names.node_topic(names.ADVERSARY, topic) + "/data"
                        for topic in (names.EPISODES_DONE, names.FAILURES)]


# -- the real launch description (needs launch + launch_ros, not on PyPI) ----------------------------------------
@pytest.fixture
def launch_module():
    # Not plain importorskip("launch"): run from the repository root, the launch/ folder itself imports as
    # an (empty) namespace package called `launch`.
    pytest.importorskip("launch.launch_description_sources")
    pytest.importorskip("launch_ros.actions")
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    return PythonLaunchDescriptionSource(str(LAUNCH_FILE))


def launch_context(**arguments):
    """A LaunchContext with every declared argument at its default except `arguments`."""
    from launch import LaunchContext
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    context = LaunchContext()
    description = PythonLaunchDescriptionSource(str(LAUNCH_FILE)).get_launch_description(context)
    for declared in description.get_launch_arguments():
        default = "".join(s.perform(context) for s in declared.default_value) if declared.name != "params_file" else ""
        context.launch_configurations[declared.name] = default
    context.launch_configurations.update({k: str(v) for k, v in arguments.items()})
    return context


def load_launch_file():
    from launch.launch_description_sources.python_launch_file_utilities import load_python_launch_file_as_module

    return load_python_launch_file_as_module(str(LAUNCH_FILE))


def evaluated(overrides: dict, context) -> dict:
    """Override values as the node would receive them (ParameterValue is evaluated, plain values stay)."""
    return {k: v.evaluate(context) if hasattr(v, "evaluate") else v for k, v in overrides.items()}


def test_the_launch_description_declares_the_arguments_with_empty_defaults(launch_module):
    from launch import LaunchContext

    description = launch_module.get_launch_description(LaunchContext())
    declared = {a.name: a for a in description.get_launch_arguments()}
    assert set(declared) == ALL_ARGUMENTS
    context = LaunchContext()
    for name in AUDIT_ARGUMENTS:  # empty: the params file's value stands
        assert "".join(s.perform(context) for s in declared[name].default_value) == ""
    assert "".join(s.perform(context) for s in declared["use_rviz"].default_value) == "false"


def test_launch_arguments_reach_their_nodes_with_the_declared_types(launch_module, tmp_path):
    params = tmp_path / "audit.yaml"
    params.write_text(PARAMS_FILE.read_text())
    context = launch_context(params_file=params, episodes=4, seed=7, out_dir="20251126", searcher="uniform")
    overrides = load_launch_file()._overrides(context, str(params))
    assert evaluated(overrides[names.ADVERSARY], context) == {
        "episodes": 4, "seed": 7, "out_dir": "20251126", "searcher": "uniform", "exit_when_done": True}
    # A numeric-looking folder stays a string: an INTEGER out_dir would kill adversary and analysis at start.
    assert evaluated(overrides[names.ANALYSIS], context) == {"out_dir": "20251126", "searcher": "uniform"}
    assert overrides[names.SIMULATOR] == {}  # vision policy (the file's): the simulator keeps camera_every


def test_continuous_reaches_adversary_and_analysis_as_a_boolean(launch_module):
    context = launch_context(params_file=PARAMS_FILE, continuous="true")
    overrides = load_launch_file()._overrides(context, str(PARAMS_FILE))
    assert evaluated(overrides[names.ADVERSARY], context) == {"continuous": True, "exit_when_done": True}
    assert evaluated(overrides[names.ANALYSIS], context) == {"continuous": True}
    assert overrides[names.SIMULATOR] == {}  # every simulator has its factor parameters anyway


def test_a_continuous_value_that_is_not_yes_or_no_is_refused_by_name(launch_module):
    context = launch_context(params_file=PARAMS_FILE, continuous="maybe")
    with pytest.raises(ValueError, match="continuous:='maybe'.*true"):
        load_launch_file()._overrides(context, str(PARAMS_FILE))


def test_a_non_integer_episode_budget_is_refused_by_name(launch_module, tmp_path):
    context = launch_context(params_file=PARAMS_FILE, episodes="1e3")
    with pytest.raises(ValueError, match="episodes"):
        load_launch_file()._overrides(context, str(PARAMS_FILE))


@pytest.mark.parametrize("task", ["PickPlaceCan", "NutAssemblySquare"])
def test_a_task_argument_reaches_all_five_nodes_with_a_catalogue_for_it(launch_module, task):
    context = launch_context(params_file=PARAMS_FILE, task=task)
    overrides = load_launch_file()._overrides(context, str(PARAMS_FILE))
    assert {node: evaluated(overrides[node], context).get("task") for node in NODES} == dict.fromkeys(NODES, task)
    assert load_catalogue(task).task == task


@pytest.mark.parametrize("where", ["argument", "params_file"])
def test_a_policy_other_than_vision_gets_a_frame_every_step(launch_module, tmp_path, where):
    params = yaml.safe_load(PARAMS_FILE.read_text())
    if where == "params_file":
        for node in (names.POLICY, names.ADVERSARY):
            params[f"/**/{node}"]["ros__parameters"]["policy"] = "my_pkg.policies:EveryFrame"
    path = tmp_path / "audit.yaml"
    path.write_text(yaml.safe_dump(params))
    arguments = {"policy": "my_pkg.policies:EveryFrame"} if where == "argument" else {}
    context = launch_context(params_file=path, **arguments)
    overrides = load_launch_file()._overrides(context, str(path))
    assert overrides[names.SIMULATOR] == {"camera_every": 1}


def fake_ament_prefix(tmp_path, monkeypatch, *packages: str) -> Path:
    """A minimal ament index holding `packages` (with a share folder each), so FindPackageShare resolves them."""
    prefix = tmp_path / "prefix"
    (prefix / "share" / "ament_index" / "resource_index" / "packages").mkdir(parents=True)
    for package in packages:
        (prefix / "share" / "ament_index" / "resource_index" / "packages" / package).touch()
        (prefix / "share" / package).mkdir()
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(prefix))
    return prefix


def launch_nodes(actions) -> list:
    """The node actions among what _nodes() returns (it also returns log lines and event handlers)."""
    from launch_ros.actions import Node

    return [a for a in actions if isinstance(a, Node)]


def log_lines(actions, context) -> list[str]:
    from launch.actions import LogInfo

    return ["".join(s.perform(context) for s in a.msg) for a in actions if isinstance(a, LogInfo)]


def test_use_rviz_without_rviz2_installed_warns_and_starts_the_audit_anyway(launch_module, tmp_path, monkeypatch):
    fake_ament_prefix(tmp_path, monkeypatch, "robofail_ros")  # no rviz2, as on a ros-base image
    context = launch_context(params_file=PARAMS_FILE, use_rviz="true")
    actions = load_launch_file()._nodes(context)
    assert {a.node_executable for a in launch_nodes(actions)} == set(NODES)
    assert any("rviz2 is not installed" in line for line in log_lines(actions, context))


def test_the_launch_file_starts_the_five_node_executables_and_rviz_on_request(launch_module, tmp_path, monkeypatch):
    prefix = fake_ament_prefix(tmp_path, monkeypatch, "robofail_ros", "rviz2")
    module = load_launch_file()

    actions = launch_nodes(module._nodes(launch_context(params_file=PARAMS_FILE)))
    assert {a.node_executable for a in actions} == set(NODES)
    assert {a.node_package for a in actions} == {"robofail_ros"}

    with_rviz = launch_nodes(module._nodes(launch_context(params_file=PARAMS_FILE, use_rviz="true")))
    rviz = [a for a in with_rviz if a.node_executable == "rviz2"]
    assert len(rviz) == 1
    from launch.substitutions import LocalSubstitution

    context = launch_context()
    command = ["".join(s.perform(context) for s in part) for part in rviz[0].cmd[1:]  # cmd[0]: the executable
               if not any(isinstance(s, LocalSubstitution) for s in part)]  # ROS arguments, filled in at execution
    assert command[command.index("-d") + 1] == f"{prefix}/share/robofail_ros/config/robofail.rviz"


def test_workers_argument_starts_one_trio_per_worker_namespace_and_a_single_adversary(launch_module, tmp_path,
                                                                                        monkeypatch):
    fake_ament_prefix(tmp_path, monkeypatch, "robofail_ros")
    module = load_launch_file()
    context = launch_context(params_file=PARAMS_FILE, workers=2)
    actions = launch_nodes(module._nodes(context))
    def namespace_of(action) -> str:
        ns = action._Node__node_namespace  # launch_ros keeps what it was given; ours are plain strings
        return ns if isinstance(ns, str) else "".join(part.perform(context) for part in ns)

    placed = sorted((a.node_executable, namespace_of(a)) for a in actions)
    trios = [(n, ns) for n, ns in placed if n in ("simulator", "policy", "perturbation")]
    assert sorted({ns.strip("/") for _, ns in trios}) == ["robofail/worker_0", "robofail/worker_1"]
    assert len(trios) == 6
    assert [n for n, _ in placed].count("adversary") == 1 and [n for n, _ in placed].count("analysis") == 1
    assert evaluated(module._overrides(context, str(PARAMS_FILE))[names.ADVERSARY], context) == {
        "workers": 2, "exit_when_done": True}
    worker_only = launch_nodes(module._nodes(launch_context(params_file=PARAMS_FILE, workers=1, first_worker=3,
                                                            audit="false")))
    assert sorted(a.node_executable for a in worker_only) == ["perturbation", "policy", "simulator"]


def test_policy_node_false_starts_no_policy_node_and_the_simulator_feeds_every_frame(launch_module, tmp_path,
                                                                                   monkeypatch):
    fake_ament_prefix(tmp_path, monkeypatch, "robofail_ros")
    module = load_launch_file()
    context = launch_context(params_file=PARAMS_FILE, policy_node="false")
    actions = module._nodes(context)
    assert {a.node_executable for a in launch_nodes(actions)} == set(NODES) - {names.POLICY}
    assert any("/robofail/policy/action" in line for line in log_lines(actions, context))
    overrides = module._overrides(context, str(PARAMS_FILE))
    assert overrides[names.SIMULATOR] == {"camera_every": 1}  # what a node of the user's own reads is unknown
    # Recorded as "external" unless `policy` names the user's policy.
    assert evaluated(overrides[names.ADVERSARY], context)["policy"] == load_launch_file().EXTERNAL_POLICY
    named = launch_context(params_file=PARAMS_FILE, policy_node="false", policy="my_policy")
    assert evaluated(module._overrides(named, str(PARAMS_FILE))[names.ADVERSARY], named)["policy"] == "my_policy"


def test_a_yes_no_argument_that_is_neither_is_refused_by_name(launch_module):
    context = launch_context(params_file=PARAMS_FILE, keep_alive="sometimes")
    with pytest.raises(ValueError, match="keep_alive:='sometimes'.*true"):
        load_launch_file()._overrides(context, str(PARAMS_FILE))


def test_the_launch_ends_when_the_adversary_exits_unless_keep_alive(launch_module, tmp_path, monkeypatch):
    from launch.actions import RegisterEventHandler
    from launch.event_handlers import OnProcessExit

    fake_ament_prefix(tmp_path, monkeypatch, "robofail_ros")
    module = load_launch_file()
    context = launch_context(params_file=PARAMS_FILE)
    actions = module._nodes(context)
    [adversary] = [a for a in launch_nodes(actions) if a.node_executable == names.ADVERSARY]
    handlers = [a.event_handler for a in actions if isinstance(a, RegisterEventHandler)]
    assert len(handlers) == 1 and isinstance(handlers[0], OnProcessExit)
    assert handlers[0].matches(__import__("launch.events.process", fromlist=["ProcessExited"]).ProcessExited(
        action=adversary, name="adversary", cmd=[], cwd=None, env=None, pid=1, returncode=0))
    assert evaluated(module._overrides(context, str(PARAMS_FILE))[names.ADVERSARY], context)["exit_when_done"] is True

    kept = launch_context(params_file=PARAMS_FILE, keep_alive="true")
    assert not [a for a in module._nodes(kept) if isinstance(a, RegisterEventHandler)]
    assert evaluated(module._overrides(kept, str(PARAMS_FILE))[names.ADVERSARY], kept)["exit_when_done"] is False


def test_every_node_follows_its_launch_and_the_adversary_has_time_to_write_its_report(launch_module, tmp_path,
                                                                                     monkeypatch):
    from robofail_ros.nodes.adversary import SHUTDOWN_GRACE_ADVERSARY
    from robofail_ros.nodes.common import EXIT_WITH_PARENT_ENV

    fake_ament_prefix(tmp_path, monkeypatch, "robofail_ros")
    module = load_launch_file()
    context = launch_context(params_file=PARAMS_FILE)
    nodes = launch_nodes(module._nodes(context))
    assert module.NODE_ENV == {EXIT_WITH_PARENT_ENV: "1"}
    for node in nodes:  # launch keeps additional_env as (name, value) substitution pairs
        env = {"".join(s.perform(context) for s in k): "".join(s.perform(context) for s in v)
               for k, v in node.additional_env}
        assert env == module.NODE_ENV, node.node_executable
    [adversary] = [a for a in nodes if a.node_executable == names.ADVERSARY]
    timeout = float("".join(s.perform(context) for s in adversary.sigterm_timeout))
    assert timeout > SHUTDOWN_GRACE_ADVERSARY  # its own watchdog ends it before launch escalates


def launched_parameters(node, context) -> tuple:
    """What a launched node is given, in order (later wins, as in rcl): the params file's path, then a dict."""
    from launch_ros.utilities import evaluate_parameters

    return evaluate_parameters(context, node._Node__parameters)  # normalised by launch_ros when the Node was made


@pytest.mark.parametrize("task", ["PickPlaceCan", "NutAssemblySquare"])
def test_the_real_launch_description_gives_every_node_the_new_task_over_the_files_lift(launch_module, tmp_path,
                                                                                        monkeypatch, task):
    """`ros2 launch robofail_ros audit.launch.py task:=<task> policy:=expert`, built as `ros2 launch` builds it:
    the description's OpaqueFunction makes the five nodes, each given the file and then the task, so the task
    beats the file's `task: Lift`; the expert gets a frame every step and the launch ends with the audit."""
    from launch.actions import OpaqueFunction

    fake_ament_prefix(tmp_path, monkeypatch, "robofail_ros")
    context = launch_context(params_file=PARAMS_FILE, task=task, policy="expert")
    description = launch_module.get_launch_description(context)
    [make_nodes] = [e for e in description.entities if isinstance(e, OpaqueFunction)]
    nodes = {n.node_executable: n for n in launch_nodes(make_nodes.execute(context))}
    assert set(nodes) == set(NODES)

    given = {}
    for name, node in nodes.items():
        params_file, overrides = launched_parameters(node, context)
        assert Path(params_file) == PARAMS_FILE
        assert yaml.safe_load(PARAMS_FILE.read_text())[f"/**/{name}"]["ros__parameters"]["task"] == "Lift"
        given[name] = overrides
    assert {name: overrides.get("task") for name, overrides in given.items()} == dict.fromkeys(NODES, task)
    assert given[names.POLICY]["policy"] == given[names.ADVERSARY]["policy"] == "expert"
    assert given[names.SIMULATOR]["camera_every"] == 1
    assert given[names.ADVERSARY]["exit_when_done"] is True
