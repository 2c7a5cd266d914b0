"""Every ROS name the package uses, in one place (the core keeps them so tests and docs can too).

Nodes live in NAMESPACE; each node's own topics are `~/...` and resolve to
`/robofail/<node>/<topic>`. The helpers below give the absolute names other nodes use.
"""
from __future__ import annotations

NAMESPACE = "/robofail"

SIMULATOR = "simulator"
POLICY = "policy"
PERTURBATION = "perturbation"
ADVERSARY = "adversary"
ANALYSIS = "analysis"

# -- simulator ---------------------------------------------------------------------------------
CAMERA_IMAGE = "camera/{camera}/image_raw"          # sensor_msgs/Image, sensor-data QoS: for people (rqt, RViz)
CAMERA_INFO = "camera/{camera}/camera_info"         # sensor_msgs/CameraInfo, sensor-data QoS
JOINT_STATES = "joint_states"                       # sensor_msgs/JointState, the robot's joints
OBSERVATION_IMAGE = "observation/{camera}/image_raw"  # sensor_msgs/Image, RELIABLE: the policy's lockstep input
OBSERVATION_STATE = "observation/state"             # sensor_msgs/JointState: every robosuite observation, flattened
EPISODE_STEP = "episode_step"                       # OBSERVATION_STATE's step counter (label `episode_step/0`)
ADVERSARY_VIEW = "adversary_view/image_raw"         # sensor_msgs/Image, RELIABLE: the adversary's observation
EPISODE_START = "episode_start"                     # std_msgs/String: the id of the episode that starts
EPISODE_OUTCOME = "episode_outcome"                 # diagnostic_msgs/DiagnosticStatus: one finished episode
RUN_EPISODE = "run_episode"                         # std_srvs/Trigger: run one episode with the current parameters
RENDER_VIEW = "render_adversary_view"               # std_srvs/Trigger: publish ADVERSARY_VIEW for the current parameters
FILM_EPISODE = "film_episode"                       # std_srvs/Trigger: run_episode with every step filmed (film_size px)
FILM_IMAGE = "film/image_raw"                       # sensor_msgs/Image, RELIABLE keep-all: the frames, frame_id = episode id
FILM_OUTCOME = "film/outcome"                       # diagnostic_msgs/DiagnosticStatus: a filmed episode (never audited)
FILM_FRAMES_KEY = "film_frames"                     # key of FILM_OUTCOME's value: how many frames were sent
FACTOR_PARAMETER = "factors.{name}"                 # double parameter per factor of the continuous scene space

# -- policy under test ---------------------------------------------------------------------------
ACTION = "action"                                   # sensor_msgs/JointState: name = action labels, position = values
ACTION_ERROR_PREFIX = "error: "                     # an action whose only name starts so carries why the policy failed

# -- perturbation service -------------------------------------------------------------------------
APPLY = "apply/{name}"                              # std_srvs/Trigger per catalogue entry
CLEAR = "clear"                                     # std_srvs/Trigger
LIST = "list"                                       # std_srvs/Trigger: the catalogue as readable text
ACTIVE = "active"                                   # std_msgs/String (latched): active perturbations, one per line,
                                                    # then factors.<name>=<value> for each factor away from nominal
PARAMETER_EVENTS = "/parameter_events"              # rcl_interfaces/ParameterEvent: what ACTIVE mirrors

# -- adversary ------------------------------------------------------------------------------------
EPISODES_DONE = "episodes_done"                     # std_msgs/Int64
FAILURES = "failures"                               # std_msgs/Int64
PI = "pi"                                           # std_msgs/Float64MultiArray: π(a|o) over the catalogue
AUDIT_STATE = "audit_state"                         # std_msgs/String (latched): idle | running | finished | error: …

# -- failure analysis ------------------------------------------------------------------------------
# A vector's per-entry Float64 topics (for rqt_plot) live under `perturbation/<name>/` or `factor/<name>/`, never
# under the vector's own name: rqt_plot resolves `/a/b/c/data` to the first topic that is a prefix of it, so a
# `p_failure/<name>` beside a `p_failure` topic could never be plotted.
# The headline, after every episode under every searcher: π where the searcher has one (PPO), else POSTERIOR_*;
# P_FAILURE_SOURCE and the vector's layout label say which.
P_FAILURE = "p_failure"                             # std_msgs/Float64MultiArray, latched; labels on LABELS
P_FAILURE_ONE = "perturbation/{name}/p_failure"     # std_msgs/Float64 per perturbation (rqt_plot)
ENTROPY = "entropy"                                 # std_msgs/Float64, nats, of P_FAILURE
P_FAILURE_SOURCE = "p_failure_source"               # std_msgs/String, latched: what P_FAILURE and ENTROPY carry
# Beside it, always: the failure distribution estimated from the episodes (normalised Beta posterior means)
POSTERIOR_P_FAILURE = "posterior/p_failure"         # std_msgs/Float64MultiArray, latched; labels on LABELS
POSTERIOR_P_FAILURE_ONE = "perturbation/{name}/posterior"  # std_msgs/Float64 per perturbation (rqt_plot)
POSTERIOR_ENTROPY = "posterior/entropy"             # std_msgs/Float64, nats
FAILURE_RATE = "failure_rate"                       # std_msgs/Float64MultiArray, measured rates
FAILURE_RATE_ONE = "perturbation/{name}/failure_rate"  # std_msgs/Float64 per perturbation
LABELS = "labels"                                   # std_msgs/String, latched: perturbation names, one per line
MARKERS = "markers"                                 # visualization_msgs/MarkerArray: bar chart for RViz
FAILURE_STAGES = "failure_stages"                   # std_msgs/Float64MultiArray, latched: failed episodes by the
#                                                     furthest task stage reached; the layout label names the stages
DIAGNOSTICS = "/diagnostics"                        # diagnostic_msgs/DiagnosticArray (rqt_robot_monitor)
# continuous audits (latched; vectors in factor-space order, labelled in their layout)
FACTOR_LABELS = "factor_labels"                     # std_msgs/String, latched: factor names, one per line
THRESHOLDS = "thresholds"                           # std_msgs/Float64MultiArray: threshold per factor, NaN = none
THRESHOLD_ONE = "factor/{name}/threshold"          # std_msgs/Float64 per factor (NaN: no threshold found)
SOBOL_FIRST = "sobol/first_order"                   # std_msgs/Float64MultiArray: Sobol S1 per factor
SOBOL_TOTAL = "sobol/total"                         # std_msgs/Float64MultiArray: Sobol ST per factor (fitted)
SOBOL_TOTAL_LOWER = "sobol/total_lower_bound"       # std_msgs/Float64MultiArray: its 95% lower bound per factor
SOBOL_TOTAL_ONE = "factor/{name}/sobol_total"      # std_msgs/Float64 per factor (rqt_plot)
SOBOL_TOP_PAIR = "sobol/top_pair"                  # std_msgs/String: the pair with the largest S2, claimed or not
SCENES_P_FAILURE_ONE = "scenes/{name}/p_failure"    # std_msgs/Float64: a continuous audit's headline entries

# -- TF frames (the simulator publishes them on TF_STATIC: tf2_msgs/TFMessage, latched) ------------------------------
TF_STATIC = "/tf_static"
WORLD_FRAME = "world"                               # MuJoCo's world frame; RViz's fixed frame, the analysis markers'
TABLE_FRAME = "table"                               # the table body
CAMERA_FRAME = "{camera}"                           # a MuJoCo camera: x right, y up, looking along -z
CAMERA_OPTICAL_FRAME = "{camera}_optical_frame"     # ROS optical convention (x right, y down, z forward): images

#: Labels of the 7-D robosuite OSC action (end-effector delta position, delta rotation, gripper).
ACTION_LABELS = ("dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper")


#: Worker namespaces: a simulator + policy + perturbation trio per worker, `/robofail/worker_<k>`.
WORKER_PREFIX = "worker_"


def factor_parameter(factor: str) -> str:
    """The simulator parameter of one factor (`factors.<name>`: rqt_reconfigure groups them under `factors`)."""
    return FACTOR_PARAMETER.format(name=factor)


def node_topic(node: str, relative: str, namespace: str = NAMESPACE, **fmt: str) -> str:
    """Absolute name of a node's `~/relative` topic or service (in the default namespace unless told)."""
    base = f"{namespace.rstrip('/')}/{node}"
    rel = relative.format(**fmt)
    return f"{base}/{rel}" if rel else base


def sibling(node: str, relative: str, **fmt: str) -> str:
    """Relative name of another node's topic in the caller's own namespace, so a worker trio finds itself."""
    return f"{node}/{relative.format(**fmt)}"


def worker_namespace(k: int) -> str:
    return f"{NAMESPACE}/{WORKER_PREFIX}{k}"


def worker_label(namespace: str) -> str:
    """How a worker is recorded with each episode it ran: `worker_<k>`, or `main` for /robofail itself."""
    return namespace.rsplit("/", 1)[-1] if namespace != NAMESPACE else "main"


def action_labels(action_dim: int) -> list[str]:
    if action_dim == len(ACTION_LABELS):
        return list(ACTION_LABELS)
    return [f"a{i}" for i in range(action_dim)]
