"""Perturbation service node: one std_srvs/Trigger per catalogue entry, callable by hand or from rqt.

  ros2 service call /robofail/perturbation/apply/table_red std_srvs/srv/Trigger
  ros2 service call /robofail/perturbation/clear std_srvs/srv/Trigger
  ros2 service call /robofail/perturbation/list std_srvs/srv/Trigger

The simulator's `perturbations` parameter is the single source of truth; this node
reads it, adds or clears, and sets it back. The latched `~/active` mirrors that parameter
and the factor parameters (`factors.<name>`) through the simulator's parameter events, so it
also follows `ros2 param set`, rqt_reconfigure and the adversary, not only these services.
Only catalogue names exist as services, and nothing from a request is evaluated or used as a path.

Every wait on the simulator is bounded (parameter `simulator_timeout`, default `SIMULATOR_ANSWER_TIMEOUT`) and ends
early if the simulator leaves the graph: the services share one mutually exclusive group (so that two applies
cannot interleave their read-modify-write), and a request to a simulator that died would otherwise hold that group
forever, leaving `clear` unanswered after the simulator came back.
"""
from __future__ import annotations

from rcl_interfaces.msg import ParameterDescriptor, ParameterEvent, ParameterType, ParameterValue
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import qos_profile_parameter_events
from rclpy.task import Future
from std_msgs.msg import String
from std_srvs.srv import Trigger

from robofail_ros import names
from robofail_ros.catalogue import load_catalogue
from robofail_ros.factors import optional_factor_space
from robofail_ros.nodes.common import LATCHED, TRIGGER_TIMEOUT, run_node

#: Default of `simulator_timeout`: seconds a service waits for the simulator's parameter services before answering
#: with a failure. A live simulator answers in milliseconds (its episodes run off its executor); this stays well
#: under the adversary's `TRIGGER_TIMEOUT` for a perturbation service, so the adversary hears the failure and
#: retries instead of timing out.
SIMULATOR_ANSWER_TIMEOUT = 10.0
_LIVENESS_PERIOD = 0.5  # how often a pending wait checks that the simulator is still there


class SimulatorUnanswered(RuntimeError):
    """The simulator left, or did not answer within `simulator_timeout`."""


def active_text(perturbations: list[str], factors: dict[str, float], nominal: dict[str, float]) -> str:
    """What `~/active` says: the active perturbations, one per line, then `factors.<name>=<value>` for every
    factor away from nominal (in factor-space order); empty when the scene is the unperturbed one."""
    moved = [f"{names.factor_parameter(n)}={v:g}" for n, v in factors.items() if v != nominal[n]]
    return "\n".join(list(perturbations) + moved)


class PerturbationNode(Node):
    def __init__(self) -> None:
        super().__init__(names.PERTURBATION, namespace=names.NAMESPACE)
        self.declare_parameter("task", "Lift", ParameterDescriptor(description="task whose catalogue to serve", read_only=True))
        self.declare_parameter("catalogue", "", ParameterDescriptor(
            description="catalogue YAML path; empty takes the task's", read_only=True))
        self.declare_parameter("simulator", names.SIMULATOR, ParameterDescriptor(
            description="simulator node whose parameter to set (relative: the one in this namespace)", read_only=True))
        path = self.get_parameter("catalogue").value
        self.catalogue = load_catalogue(path or self.get_parameter("task").value)
        self.declare_parameter("simulator_timeout", SIMULATOR_ANSWER_TIMEOUT, ParameterDescriptor(
            description="seconds a service waits for the simulator before answering with a failure", read_only=True))
        simulator = self.get_parameter("simulator").value
        self.simulator_timeout = float(self.get_parameter("simulator_timeout").value)
        if not 0.0 < self.simulator_timeout < TRIGGER_TIMEOUT:
            raise ValueError(f"simulator_timeout {self.simulator_timeout}: expected seconds above 0 and under "
                             f"{TRIGGER_TIMEOUT:g} (the adversary's wait for this node's answer)")
        # Service callbacks await the parameter client; its responses need their own (reentrant) group,
        # or the suspended callback would hold the node's default group and never be answered.
        self.params = AsyncParameterClient(self, simulator, callback_group=ReentrantCallbackGroup())
        self.simulator = simulator if simulator.startswith("/") else f"{self.get_namespace().rstrip('/')}/{simulator}"
        self.active_pub = self.create_publisher(String, "~/" + names.ACTIVE, LATCHED)
        space = optional_factor_space(self.catalogue.source)
        self.nominal = {f.name: float(f.nominal) for f in space.factors} if space is not None else {}
        self._mirror: tuple[list[str], dict[str, float]] | None = None  # what the simulator last said it has
        self.create_subscription(ParameterEvent, names.PARAMETER_EVENTS, self._on_parameter_event,
                                 qos_profile_parameter_events)
        self._initial = self.create_timer(0.5, self._read_initial, callback_group=ReentrantCallbackGroup())
        for p in self.catalogue.perturbations:
            self.create_service(Trigger, "~/" + names.APPLY.format(name=p.name), self._apply_callback(p.name))
        self.create_service(Trigger, "~/" + names.CLEAR, self._clear)
        self.create_service(Trigger, "~/" + names.LIST, self._list)
        self.get_logger().info(f"serving {len(self.catalogue)} perturbations of {self.catalogue.task} "
                               f"for {self.simulator}")

    # -- mirroring the simulator's parameters onto ~/active ---------------------------------------------
    def _on_parameter_event(self, msg: ParameterEvent) -> None:
        """Every accepted set of the simulator's parameters, whoever made it, updates `~/active`."""
        if msg.node != self.simulator:
            return
        perturbations, factors = self._mirror or ([], dict(self.nominal))
        factors = dict(factors)
        touched = False
        for prm in list(msg.new_parameters) + list(msg.changed_parameters):
            if prm.name == "perturbations":
                perturbations, touched = list(prm.value.string_array_value), True
            elif (factor := prm.name.removeprefix(names.factor_parameter(""))) in self.nominal:
                factors[factor], touched = _number(prm.value, self.nominal[factor]), True
        if touched:
            self._publish_active(perturbations, factors)

    async def _read_initial(self) -> None:
        """Until the first event or answer: read the simulator's current values (it may have started first)."""
        if self._mirror is not None:
            self._initial.cancel()
            return
        if not self.params.services_are_ready():
            return
        self._initial.cancel()
        wanted = ["perturbations"] + [names.factor_parameter(n) for n in self.nominal]
        try:
            response = await self._answer(self.params.get_parameters(wanted), "report its parameters")
        except Exception as exc:  # the simulator left meanwhile: its events will tell once it is back
            self.get_logger().warning(f"cannot read {self.simulator}'s parameters: {exc}")
            return
        if self._mirror is not None or len(response.values) != len(wanted):
            return  # an event was newer
        values = list(response.values)
        perturbations = (list(values[0].string_array_value)
                         if values[0].type == ParameterType.PARAMETER_STRING_ARRAY else [])
        factors = {n: _number(v, self.nominal[n]) for n, v in zip(self.nominal, values[1:])}
        self._publish_active(perturbations, factors)

    def _publish_active(self, perturbations: list[str], factors: dict[str, float]) -> None:
        self._mirror = (perturbations, factors)
        self.active_pub.publish(String(data=active_text(perturbations, factors, self.nominal)))

    # -- services ---------------------------------------------------------------------------------------
    async def _answer(self, future: Future, what: str):
        """`await future`, but give up (SimulatorUnanswered) once the simulator leaves or after the timeout.

        rclpy futures have no timeout and a client is never told that its server died, so a watcher timer
        cancels the future; the awaiting callback then resumes and finds it cancelled.
        """
        deadline = self.get_clock().now().nanoseconds + int(self.simulator_timeout * 1e9)
        why: list[str] = []

        def watch() -> None:
            if future.done() or future.cancelled():
                return
            if not self.params.services_are_ready():
                why.append(f"simulator {self.simulator} left while it was asked to {what}")
            elif self.get_clock().now().nanoseconds > deadline:
                why.append(f"simulator {self.simulator} did not {what} within {self.simulator_timeout:g} s")
            else:
                return
            future.cancel()

        watcher = self.create_timer(_LIVENESS_PERIOD, watch, callback_group=ReentrantCallbackGroup())
        try:
            result = await future
        finally:
            self.destroy_timer(watcher)
        if future.cancelled():
            raise SimulatorUnanswered(why[0] if why else f"the call to {self.simulator} was cancelled")
        return result

    async def _current(self) -> list[str]:
        response = await self._answer(self.params.get_parameters(["perturbations"]), "report its perturbations")
        if not response.values:
            return []
        value = response.values[0]
        return list(value.string_array_value) if value.type == ParameterType.PARAMETER_STRING_ARRAY else []

    async def _set(self, active: list[str], response):
        result = await self._answer(
            self.params.set_parameters([Parameter("perturbations", Parameter.Type.STRING_ARRAY, active)]),
            "set its perturbations")
        outcome = result.results[0]
        response.success = bool(outcome.successful)  # ~/active follows from the simulator's parameter event
        return outcome.reason

    def _unavailable(self, response):
        if self.params.services_are_ready():
            return None
        response.success = False
        response.message = f"simulator {self.simulator} is not available (is the simulator node running?)"
        return response

    def _apply_callback(self, name: str):
        async def callback(request, response):  # rclpy awaits only callbacks that are coroutine functions
            return await self._apply(name, response)
        return callback

    async def _apply(self, name: str, response):
        if self._unavailable(response):
            return response
        try:
            active = await self._current()
            if name in active:
                response.success, response.message = True, f"{name} already active: {', '.join(active)}"
                return response
            reason = await self._set(active + [name], response)
        except SimulatorUnanswered as exc:
            response.success, response.message = False, str(exc)
            return response
        except Exception as exc:  # a simulator that vanished mid-call must not take this node down
            response.success, response.message = False, f"setting {self.simulator} failed: {exc}"
            return response
        response.message = f"active: {', '.join(active + [name])}" if response.success else reason
        return response

    async def _clear(self, request, response):
        if self._unavailable(response):
            return response
        try:
            reason = await self._set([], response)
        except SimulatorUnanswered as exc:
            response.success, response.message = False, str(exc)
            return response
        except Exception as exc:
            response.success, response.message = False, f"setting {self.simulator} failed: {exc}"
            return response
        response.message = "no perturbation active" if response.success else reason
        return response

    def _list(self, request, response):
        width = max(len(n) for n in self.catalogue.names)
        lines = [f"{p.name:<{width}}  [{p.group}]  {p.description}" for p in self.catalogue.perturbations]
        response.success = True
        response.message = f"{len(lines)} perturbations of {self.catalogue.task} " \
                           f"(call {self.get_namespace().rstrip('/')}/{names.sibling(names.PERTURBATION, names.APPLY, name='<name>')}):\n" + "\n".join(lines)
        return response


def _number(value: ParameterValue, default: float) -> float:
    """A factor parameter's value (a double, or an integer from a hand-typed `ros2 param set`)."""
    if value.type == ParameterType.PARAMETER_DOUBLE:
        return float(value.double_value)
    if value.type == ParameterType.PARAMETER_INTEGER:
        return float(value.integer_value)
    return default


def main(args: list[str] | None = None) -> None:
    run_node(PerturbationNode, args)


if __name__ == "__main__":
    main()
