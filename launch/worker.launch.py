"""Start one more worker (simulator + policy + perturbation trio) for an audit running elsewhere.

    ros2 launch robofail_ros worker.launch.py worker_id:=3            # on another machine, same ROS_DOMAIN_ID

The adversary discovers /robofail/worker_<id> from the graph within a second and sends it episodes.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    audit = PathJoinSubstitution([FindPackageShare("robofail_ros"), "launch", "audit.launch.py"])
    passed = ("task", "policy", "params_file", "policy_node")
    return LaunchDescription([
        DeclareLaunchArgument("worker_id", default_value="0", description="this worker is /robofail/worker_<id>"),
        DeclareLaunchArgument("task", default_value="", description="robosuite task (empty: params file)"),
        DeclareLaunchArgument("policy", default_value="", description="policy under test (empty: params file)"),
        DeclareLaunchArgument("params_file", default_value=[FindPackageShare("robofail_ros"), "/config/audit.yaml"],
                              description="node parameters YAML"),
        DeclareLaunchArgument("policy_node", default_value="true",
                              description="start the built-in policy node; false: your own node publishes "
                                          "/robofail/worker_<id>/policy/action"),
        IncludeLaunchDescription(PythonLaunchDescriptionSource(audit), launch_arguments={
            **{name: LaunchConfiguration(name) for name in passed},
            "workers": "1", "first_worker": LaunchConfiguration("worker_id"), "audit": "false"}.items()),
    ])
