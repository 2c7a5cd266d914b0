"""Start a whole audit on the ROS 2 graph: simulator, policy under test, perturbation services, adversary, analysis.

    ros2 launch robofail_ros audit.launch.py
    ros2 launch robofail_ros audit.launch.py policy:=expert searcher:=bandit episodes:=300 out_dir:=/tmp/audit
    ros2 launch robofail_ros audit.launch.py use_rviz:=true

Defaults come from config/audit.yaml (or params_file:=…); a launch argument left empty keeps the file's value.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "robofail_ros"
NAMESPACE = "robofail"

#: Launch arguments: name -> (which nodes take it as a parameter, description).
ARGUMENTS = {
    "task": (("simulator", "policy", "perturbation", "adversary", "analysis"), "robosuite task (Lift, Stack)"),
    "policy": (("policy", "adversary"), "policy under test: vision, expert, or package.module:ClassName"),
    "searcher": (("adversary", "analysis"), "ppo (the paper's), bandit or uniform"),
    "episodes": (("adversary",), "searcher episode budget"),
    "seed": (("adversary",), "audit seed"),
    "out_dir": (("adversary", "analysis"), "audit folder (episodes.jsonl, report files)"),
}


def _typed(value: str):
    """Launch arguments are strings; parameters keep their declared types."""
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def _nodes(context, *args, **kwargs):
    params_file = LaunchConfiguration("params_file").perform(context)
    overrides = {n: {} for n in ("simulator", "policy", "perturbation", "adversary", "analysis")}
    for arg, (targets, _) in ARGUMENTS.items():
        value = LaunchConfiguration(arg).perform(context)
        if value != "":
            for node in targets:
                overrides[node][arg] = _typed(value)
    policy = LaunchConfiguration("policy").perform(context)
    # The vision policy reads one frame per episode; any other policy gets a frame every step.
    if policy not in ("", "vision"):
        overrides["simulator"]["camera_every"] = 1

    def node(name: str, **extra) -> Node:
        return Node(package=PACKAGE, executable=name, name=name, namespace=NAMESPACE, output="screen",
                    parameters=[params_file, overrides[name]], **extra)

    actions = [
        node("simulator"),
        node("policy", respawn=True, respawn_delay=2.0),  # a crashed policy node comes back; its episode is aborted
        node("perturbation"),
        node("analysis"),
        node("adversary"),
    ]
    if LaunchConfiguration("use_rviz").perform(context).lower() in ("true", "1", "yes"):
        rviz_config = FindPackageShare(PACKAGE).perform(context) + "/config/robofail.rviz"
        actions.append(Node(package="rviz2", executable="rviz2", name="rviz2", arguments=["-d", rviz_config]))
    return actions


def generate_launch_description() -> LaunchDescription:
    default_params = [FindPackageShare(PACKAGE), "/config/audit.yaml"]
    declared = [DeclareLaunchArgument(name, default_value="", description=f"{text} (empty: params file)")
                for name, (_, text) in ARGUMENTS.items()]
    declared += [
        DeclareLaunchArgument("params_file", default_value=default_params, description="node parameters YAML"),
        DeclareLaunchArgument("use_rviz", default_value="false", description="start RViz with config/robofail.rviz"),
    ]
    return LaunchDescription(declared + [OpaqueFunction(function=_nodes)])
