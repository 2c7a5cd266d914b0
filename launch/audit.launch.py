"""Start a whole audit on the ROS 2 graph: simulator, policy under test, perturbation services, adversary, analysis.

    ros2 launch robofail_ros audit.launch.py
    ros2 launch robofail_ros audit.launch.py policy:=expert searcher:=bandit episodes:=300 out_dir:=/tmp/audit
    ros2 launch robofail_ros audit.launch.py use_rviz:=true
    ros2 launch robofail_ros audit.launch.py workers:=2          # two simulator+policy trios, episodes in parallel
    ros2 launch robofail_ros audit.launch.py continuous:=true    # the continuous factor space, default searcher
    ros2 launch robofail_ros audit.launch.py searcher:=sobol episodes:=256   # … or a continuous searcher by name
    ros2 launch robofail_ros audit.launch.py continuous:=true initial_states:=fresh   # a state of its own per scene
    ros2 launch robofail_ros audit.launch.py policy_node:=false policy:=my_policy   # your own policy node joins
    ros2 launch robofail_ros audit.launch.py keep_alive:=true    # the graph stays up after the audit (by-hand work)

Defaults come from config/audit.yaml (or params_file:=…); a launch argument left empty keeps the file's value.
The launch ends when the audit ends (report written), unless keep_alive:=true; stopping it (Ctrl-C, or SIGINT to
this process as docker stop does) lets the adversary write the report of the episodes done, marked interrupted.
"""
from pathlib import Path

import yaml
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, LogInfo, OpaqueFunction, RegisterEventHandler
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

PACKAGE = "robofail_ros"
NAMESPACE = "robofail"
NODES = ("simulator", "policy", "perturbation", "adversary", "analysis")

#: Launch arguments: name -> (which nodes take it as a parameter, parameter type, description).
ARGUMENTS = {
    "task": (("simulator", "policy", "perturbation", "adversary", "analysis"), str,
             "robosuite task (Lift, Stack, PickPlaceCan, NutAssemblySquare)"),
    "policy": (("policy", "adversary"), str, "policy under test: vision, expert, robomimic:PATH, or package.module:ClassName"),
    "searcher": (("adversary", "analysis"), str, "over the catalogue: adaptive, ppo (the paper's), bandit or uniform; "
                 "over the continuous factor space: boundary, sobol, cmaes or ppo_box"),
    "continuous": (("adversary", "analysis"), bool, "true: audit the continuous factor space (thresholds, Sobol "
                   "indices, failure rules); a catalogue searcher becomes the continuous default"),
    "episodes": (("adversary",), int, "searcher episode budget (0: the mode's default)"),
    "seed": (("adversary",), int, "audit seed"),
    "initial_states": (("adversary",), str, "continuous audits: pool (searched scenes start from the control's "
                       "initial states) or fresh (every experiment from a state of its own)"),
    "out_dir": (("adversary", "analysis"), str, "audit folder (episodes.jsonl, report files)"),
    "workers": (("adversary",), int, "worker trios started here, in robofail/worker_<k>; empty: one trio in robofail"),
}
#: The nodes of one worker trio; the adversary and the analysis run once per audit.
TRIO = ("simulator", "policy", "perturbation")
#: How yes/no launch arguments may be spelled.
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")
#: What the audit records as its policy when the policy node is the user's own and `policy` names none.
EXTERNAL_POLICY = "external"
#: Seconds the adversary gets to stop before SIGTERM: it draws the report of an interrupted audit on the way
#: out (its own watchdog, nodes/adversary.py SHUTDOWN_GRACE_ADVERSARY, ends it before that).
ADVERSARY_STOP_SECONDS = "30.0"
#: Every node gets this environment: stopped (SIGTERM) when launch itself dies, which is what launch does on
#: SIGTERM, so that no node outlives it (nodes/common.py EXIT_WITH_PARENT_ENV).
NODE_ENV = {"ROBOFAIL_EXIT_WITH_PARENT": "1"}


def _typed(name: str, value: str, kind: type):
    """Launch arguments are strings; give each its parameter's declared type.

    A string parameter must stay a string even when it looks like a number (`out_dir:=20251126`):
    launch_ros would otherwise read it as YAML and the node would die on an INTEGER out_dir.
    """
    if kind is str:
        return ParameterValue(value, value_type=str)
    if kind is bool:
        if value.lower() not in TRUE + FALSE:
            raise ValueError(f"launch argument {name}:={value!r} is not a yes/no value ({', '.join(TRUE + FALSE)})")
        return value.lower() in TRUE
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f"launch argument {name}:={value!r} is not a whole number") from None


def _file_parameter(params_file: str, node: str, name: str):
    """The value `params_file` gives parameter `name` of `node` (None if it gives none); later blocks win, as in rcl."""
    try:
        data = yaml.safe_load(Path(params_file).read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None  # the node reports an unreadable file itself
    if not isinstance(data, dict):
        return None
    keys = {"/**", f"/**/{node}", node, f"{NAMESPACE}/{node}", f"/{NAMESPACE}/{node}"}
    value = None
    for key, block in data.items():
        params = block.get("ros__parameters") if isinstance(block, dict) else None
        if key in keys and isinstance(params, dict) and name in params:
            value = params[name]
    return value


def _flag(context, name: str) -> bool:
    """A yes/no launch argument; anything else is refused by name."""
    value = LaunchConfiguration(name).perform(context)
    if value.lower() not in TRUE + FALSE:
        raise ValueError(f"launch argument {name}:={value!r} is not a yes/no value ({', '.join(TRUE + FALSE)})")
    return value.lower() in TRUE


def _overrides(context, params_file: str) -> dict[str, dict]:
    """Per node, the parameters given on top of `params_file`: non-empty launch arguments, camera_every,
    the external policy's name and whether the adversary ends with its audit."""
    overrides = {n: {} for n in NODES}
    for arg, (targets, kind, _) in ARGUMENTS.items():
        value = LaunchConfiguration(arg).perform(context)
        if value != "":
            for node in targets:
                overrides[node][arg] = _typed(arg, value, kind)
    # The vision policy reads one frame per episode; any other policy gets a frame every step, whether it
    # is named on the command line or only in the params file. So does a policy node of the user's own,
    # whose needs are unknown here; the audit records it as EXTERNAL_POLICY unless `policy` names it.
    own_policy = not _flag(context, "policy_node")
    policy = LaunchConfiguration("policy").perform(context) or _file_parameter(params_file, "policy", "policy")
    if own_policy and not LaunchConfiguration("policy").perform(context):
        overrides["adversary"]["policy"] = ParameterValue(EXTERNAL_POLICY, value_type=str)
    if own_policy or policy not in (None, "", "vision"):
        overrides["simulator"]["camera_every"] = 1
    overrides["adversary"]["exit_when_done"] = not _flag(context, "keep_alive")
    return overrides


def _rviz(context) -> list:
    """RViz with the package's display config, or a warning when no rviz2 is installed (ros-base images have
    none): launch would otherwise die with "package 'rviz2' not found" and leave the nodes it started orphaned."""
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        get_package_prefix("rviz2")  # where launch_ros looks for it too
    except (PackageNotFoundError, LookupError, ValueError):
        return [LogInfo(msg="use_rviz:=true, but rviz2 is not installed (apt install ros-$ROS_DISTRO-rviz2): "
                            "going on without RViz")]
    rviz_config = FindPackageShare(PACKAGE).perform(context) + "/config/robofail.rviz"
    return [Node(package="rviz2", executable="rviz2", name="rviz2", arguments=["-d", rviz_config])]


def _nodes(context, *args, **kwargs):
    params_file = LaunchConfiguration("params_file").perform(context)
    overrides = _overrides(context, params_file)

    def node(name: str, namespace: str = NAMESPACE, **extra) -> Node:
        return Node(package=PACKAGE, executable=name, name=name, namespace=namespace, output="screen",
                    parameters=[params_file, overrides[name]], additional_env=NODE_ENV, **extra)

    start_policy = _flag(context, "policy_node")

    workers = LaunchConfiguration("workers").perform(context)
    first = int(LaunchConfiguration("first_worker").perform(context) or 0)
    namespaces = [f"{NAMESPACE}/worker_{first + k}" for k in range(int(workers))] if workers else [NAMESPACE]
    actions = []
    for ns in namespaces:
        actions += [node("simulator", ns), node("perturbation", ns)]
        if start_policy:  # a crashed policy node comes back; one that cannot even load stops after 10 tries
            actions.append(node("policy", ns, respawn=True, respawn_delay=2.0, respawn_max_retries=10))
    if not start_policy:
        where = " and ".join(f"/{ns}/policy/action" for ns in namespaces)
        actions.append(LogInfo(msg=f"policy_node:=false: start your policy node; it must publish {where}"))
    if _flag(context, "audit"):
        adversary = node("adversary", sigterm_timeout=ADVERSARY_STOP_SECONDS)
        actions += [node("analysis"), adversary]
        if not _flag(context, "keep_alive"):  # the audit's end (finished, failed or stopped) ends the launch
            actions.append(RegisterEventHandler(OnProcessExit(target_action=adversary, on_exit=[
                EmitEvent(event=Shutdown(reason="the audit has ended"))])))
    if _flag(context, "use_rviz"):
        actions += _rviz(context)
    return actions


def generate_launch_description() -> LaunchDescription:
    default_params = [FindPackageShare(PACKAGE), "/config/audit.yaml"]
    declared = [DeclareLaunchArgument(name, default_value="", description=f"{text} (empty: params file)")
                for name, (_, _, text) in ARGUMENTS.items()]
    declared += [
        DeclareLaunchArgument("params_file", default_value=default_params, description="node parameters YAML"),
        DeclareLaunchArgument("use_rviz", default_value="false", description="start RViz with config/robofail.rviz"),
        DeclareLaunchArgument("first_worker", default_value="0", description="index of the first worker trio started here"),
        DeclareLaunchArgument("audit", default_value="true", description="start the adversary and analysis nodes"),
        DeclareLaunchArgument("policy_node", default_value="true",
                              description="start the built-in policy node; false: your own node publishes "
                                          "<worker namespace>/policy/action (any name, any language)"),
        DeclareLaunchArgument("keep_alive", default_value="false",
                              description="keep the graph up after the audit ends (by-hand work); "
                                          "false: the launch ends with the audit"),
    ]
    return LaunchDescription(declared + [OpaqueFunction(function=_nodes)])
