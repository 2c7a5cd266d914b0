"""Start a whole audit on the ROS 2 graph: simulator, policy under test, perturbation services, adversary, analysis.

    ros2 launch robofail_ros audit.launch.py
    ros2 launch robofail_ros audit.launch.py policy:=expert searcher:=bandit episodes:=300 out_dir:=/tmp/audit
    ros2 launch robofail_ros audit.launch.py use_rviz:=true
    ros2 launch robofail_ros audit.launch.py workers:=2          # two simulator+policy trios, episodes in parallel
    ros2 launch robofail_ros audit.launch.py continuous:=true    # the continuous factor space, default searcher
    ros2 launch robofail_ros audit.launch.py searcher:=sobol episodes:=256   # … or a continuous searcher by name

Defaults come from config/audit.yaml (or params_file:=…); a launch argument left empty keeps the file's value.
"""
from pathlib import Path

import yaml
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

PACKAGE = "robofail_ros"
NAMESPACE = "robofail"
NODES = ("simulator", "policy", "perturbation", "adversary", "analysis")

#: Launch arguments: name -> (which nodes take it as a parameter, parameter type, description).
ARGUMENTS = {
    "task": (("simulator", "policy", "perturbation", "adversary", "analysis"), str, "robosuite task (Lift, Stack)"),
    "policy": (("policy", "adversary"), str, "policy under test: vision, expert, robomimic:PATH, or package.module:ClassName"),
    "searcher": (("adversary", "analysis"), str, "over the catalogue: adaptive, ppo (the paper's), bandit or uniform; "
                 "over the continuous factor space: boundary, sobol, cmaes or ppo_box"),
    "continuous": (("adversary", "analysis"), bool, "true: audit the continuous factor space (thresholds, Sobol "
                   "indices, failure rules); a catalogue searcher becomes the continuous default"),
    "episodes": (("adversary",), int, "searcher episode budget (0: the mode's default)"),
    "seed": (("adversary",), int, "audit seed"),
    "out_dir": (("adversary", "analysis"), str, "audit folder (episodes.jsonl, report files)"),
    "workers": (("adversary",), int, "worker trios started here, in robofail/worker_<k>; empty: one trio in robofail"),
}
#: The nodes of one worker trio; the adversary and the analysis run once per audit.
TRIO = ("simulator", "policy", "perturbation")
#: How yes/no launch arguments may be spelled.
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")


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


def _overrides(context, params_file: str) -> dict[str, dict]:
    """Per node, the parameters given on top of `params_file`: non-empty launch arguments and camera_every."""
    overrides = {n: {} for n in NODES}
    for arg, (targets, kind, _) in ARGUMENTS.items():
        value = LaunchConfiguration(arg).perform(context)
        if value != "":
            for node in targets:
                overrides[node][arg] = _typed(arg, value, kind)
    # The vision policy reads one frame per episode; any other policy gets a frame every step, whether it
    # is named on the command line or only in the params file.
    policy = LaunchConfiguration("policy").perform(context) or _file_parameter(params_file, "policy", "policy")
    if policy not in (None, "", "vision"):
        overrides["simulator"]["camera_every"] = 1
    return overrides


def _nodes(context, *args, **kwargs):
    params_file = LaunchConfiguration("params_file").perform(context)
    overrides = _overrides(context, params_file)

    def node(name: str, namespace: str = NAMESPACE, **extra) -> Node:
        return Node(package=PACKAGE, executable=name, name=name, namespace=namespace, output="screen",
                    parameters=[params_file, overrides[name]], **extra)

    workers = LaunchConfiguration("workers").perform(context)
    first = int(LaunchConfiguration("first_worker").perform(context) or 0)
    namespaces = [f"{NAMESPACE}/worker_{first + k}" for k in range(int(workers))] if workers else [NAMESPACE]
    actions = []
    for ns in namespaces:
        actions += [
            node("simulator", ns),
            # A crashed policy node comes back; a policy that cannot even load stops retrying after 10 tries.
            node("policy", ns, respawn=True, respawn_delay=2.0, respawn_max_retries=10),
            node("perturbation", ns),
        ]
    if LaunchConfiguration("audit").perform(context).lower() in TRUE:
        actions += [node("analysis"), node("adversary")]
    if LaunchConfiguration("use_rviz").perform(context).lower() in TRUE:
        rviz_config = FindPackageShare(PACKAGE).perform(context) + "/config/robofail.rviz"
        actions.append(Node(package="rviz2", executable="rviz2", name="rviz2", arguments=["-d", rviz_config]))
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
    ]
    return LaunchDescription(declared + [OpaqueFunction(function=_nodes)])
