"""How the ROS graph starts, ends and lets others in: stopping is normal, the launch ends with the audit, a worker
that leaves costs nothing, and a policy node of one's own (any name, not built on this package) is audited.

Node tests run the nodes as real processes (no launch needed, so they run in CI). The tests at the bottom run
`ros2 launch` itself and skip where there is none (`launch` and `ros2cli` are not on PyPI): put a `ros2` whose
Python has launch and launch_ros on PATH to run them.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from robofail_ros import names  # noqa: E402
from robofail_ros.nodes.adversary import SHUTDOWN_GRACE_ADVERSARY  # noqa: E402
from robofail_ros.nodes.common import LATCHED  # noqa: E402
from robofail_ros.record import LOG_NAME, load_log  # noqa: E402
from ros_graph import ROOT, GraphClient, NodeProcess, ros_env, wait_until  # noqa: E402

EXTERNAL_POLICY = Path(__file__).resolve().parent / "external_policy_node.py"
#: What a node's stop may take here, loaded (its watchdog would end it at nodes/common.py SHUTDOWN_GRACE).
NODE_STOP_SECONDS = 2.5


def domain() -> int:
    """A private ROS domain in 215-232 (valid ids are 0-101 and 215-232)."""
    return 215 + (os.getpid() + time.time_ns() // 1000) % 18


def logged(out: Path) -> list:
    log = out / LOG_NAME
    return load_log(log).episodes if log.exists() else []


def stop_timed(node: NodeProcess, *signals: signal.Signals) -> tuple[int, float]:
    """Send `signals` (0.2 s apart) to the node alone, as launch does; its exit code and seconds to exit."""
    started = time.monotonic()
    for sig in signals:
        os.kill(node.proc.pid, sig)
        time.sleep(0.2)
    code = node.proc.wait(timeout=60)
    return code, time.monotonic() - started


# -- a node stops on any signal ----------------------------------------------------------------------------
@pytest.mark.parametrize("signals", [(signal.SIGINT,), (signal.SIGTERM,), (signal.SIGINT, signal.SIGINT)],
                         ids=["SIGINT", "SIGTERM", "SIGINT twice"])
def test_a_node_stops_within_a_second_or_two_with_one_info_line_and_exit_code_0(tmp_path, signals):
    node = NodeProcess("perturbation", {}, domain(), tmp_path)
    try:
        assert wait_until(lambda: "serving" in node.output(), 60), node.output()
        code, seconds = stop_timed(node, *signals)
        output = node.output()
        assert code == 0, output
        assert seconds < NODE_STOP_SECONDS, (seconds, output)
        assert "Traceback" not in output and "did not stop" not in output, output
        assert output.count(f"stopping on {signals[0].name}") == 1, output
    finally:
        node.stop()


def test_a_simulator_stopped_mid_episode_ends_the_episode_at_once_and_publishes_no_outcome(tmp_path):
    """An episode cut short by a shutdown is not the policy's doing: nothing may record it as aborted."""
    from diagnostic_msgs.msg import DiagnosticStatus
    from std_srvs.srv import Trigger

    from robofail_ros.nodes.common import RELIABLE

    d = domain()
    sim = NodeProcess("simulator", {"camera_every": 0, "action_timeout": 30.0}, d, tmp_path)  # no policy node
    client = GraphClient(d, name="stop_watcher")
    try:
        outcomes = client.collect(DiagnosticStatus, names.node_topic(names.SIMULATOR, names.EPISODE_OUTCOME), RELIABLE)
        response = client.call(Trigger, names.node_topic(names.SIMULATOR, names.RUN_EPISODE), timeout=120)
        assert response.success, response.message
        time.sleep(1.0)  # waiting for an action that never comes, for up to 30 s
        code, seconds = stop_timed(sim, signal.SIGINT)
        assert code == 0 and seconds < NODE_STOP_SECONDS, (code, seconds, sim.output())
        assert "Traceback" not in sim.output() and not outcomes, sim.output()
    finally:
        client.close()
        sim.stop()


# -- headless: Ctrl-C on the CLI ---------------------------------------------------------------------------------
def test_ctrl_c_on_the_cli_writes_the_report_of_the_finished_episodes_and_says_how_to_resume(tmp_path):
    """A terminal's Ctrl-C reaches the CLI and its worker processes: the workers leave stopping to the CLI."""
    out = tmp_path / "audit"
    command = [sys.executable, "-m", "robofail_ros.cli", "audit", "--searcher", "uniform", "--episodes", "60",
               "--control-episodes", "2", "--workers", "2", "--out", str(out)]
    interrupt_and_check_the_report(command, out, 62, lambda cli: len(logged(out)) >= 4)


def interrupt_and_check_the_report(command: list[str], out: Path, total: int, ready, poll: float = 0.05) -> int:
    """Start the CLI in its own session, send its process group SIGINT once `ready(cli)`, and check the clean
    stop: exit 130, no traceback, the 'interrupted after N of M' message and the results.json that says so.
    Returns the CLI's pid (its process group)."""
    cli = subprocess.Popen(command, env=ros_env(0), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, start_new_session=True)
    try:
        assert wait_until(lambda: ready(cli), 300, poll)
        os.killpg(cli.pid, signal.SIGINT)
        output, _ = cli.communicate(timeout=120)
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
    done = len(logged(out))
    assert cli.returncode == 130, output
    assert "Traceback" not in output, output
    assert f"interrupted after {done} of {total} episodes" in output and "run the same command to resume" in output
    results = json.loads((out / "results.json").read_text())
    assert results["interrupted"] == f"interrupted after {done} of {total} episodes" and results["total_episodes"] == done
    return cli.pid


def process_group(pgid: int) -> dict[int, str]:
    """{pid: command line} of the live processes in process group `pgid`, from /proc."""
    members = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (name)": state ppid pgrp …
            if int(fields[2]) == pgid and fields[0] != "Z":
                members[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
    return members


def a_worker_started(pgid: int) -> bool:
    """The fork server has forked a worker: two processes run its command line (workers are forked copies)."""
    return sum("multiprocessing.forkserver" in line for line in process_group(pgid).values()) >= 2


@pytest.mark.parametrize("launcher", [[], ["sh", "-c", 'trap "" INT; exec "$@"', "sh"]],
                         ids=["from a terminal", "by a parent that ignores SIGINT"])
def test_ctrl_c_while_the_workers_start_stops_cleanly_with_the_report_of_what_is_done(tmp_path, launcher):
    """Ctrl-C at the moment the first worker process exists, while it still imports and builds its simulation:
    the audit stops (even when launched with SIGINT ignored, as a background job of a script is), no process
    prints a traceback, the report marked interrupted is written, and no worker is left behind."""
    out = tmp_path / "audit"
    command = [*launcher, sys.executable, "-m", "robofail_ros.cli", "audit", "--searcher", "uniform", "--episodes",
               "4", "--control-episodes", "2", "--workers", "2", "--out", str(out)]
    pgid = interrupt_and_check_the_report(command, out, 6, lambda cli: a_worker_started(cli.pid), poll=0.01)
    assert wait_until(lambda: not process_group(pgid), 10), process_group(pgid)


# -- the adversary: interrupted audits, audits that end, workers that leave -------------------------------------
def audit_graph(d: int, tmp_path: Path, out: Path, adversary: dict, policy: bool = True,
                namespace: str | None = None) -> dict[str, NodeProcess]:
    trio = {"simulator": NodeProcess("simulator", {"camera_every": 0}, d, tmp_path, namespace=namespace),
            "perturbation": NodeProcess("perturbation", {}, d, tmp_path, namespace=namespace)}
    if policy:
        trio["policy"] = NodeProcess("policy", {}, d, tmp_path, namespace=namespace)
    if adversary:
        trio["adversary"] = NodeProcess("adversary", {"out_dir": str(out), "searcher": "uniform",
                                                      "control_episodes": 2, **adversary}, d, tmp_path)
    return trio


def test_an_adversary_stopped_mid_audit_writes_the_report_of_the_finished_episodes_marked_interrupted(tmp_path):
    d, out = domain(), tmp_path / "audit"
    nodes = audit_graph(d, tmp_path, out, {"episodes": 60})
    try:
        assert wait_until(lambda: len(logged(out)) >= 4, 300), nodes["adversary"].output()[-3000:]
        code, seconds = stop_timed(nodes["adversary"], signal.SIGINT, signal.SIGINT)
        output = nodes["adversary"].output()
        assert code == 0 and seconds < SHUTDOWN_GRACE_ADVERSARY, (code, seconds, output[-3000:])
        assert "Traceback" not in output and "InvalidHandle" not in output, output[-3000:]
        done = len(logged(out))
        results = json.loads((out / "results.json").read_text())
        assert results["interrupted"] == f"interrupted after {done} of 62 episodes"
        assert results["total_episodes"] == done
        assert {"radar_vision_scripted.png", "failure_rates.csv"} <= {p.name for p in out.iterdir()}
        assert not list(out.glob("worst_failure_*.mp4"))  # nothing is filmed on the way out
        assert f"audit interrupted after {done} of 62 episodes" in output and "again to resume" in output
    finally:
        for n in nodes.values():
            n.stop()


def test_an_audit_that_ends_ends_its_adversary_after_the_report_and_the_filmed_worst_failure(tmp_path):
    """exit_when_done (set by the launch file): the node exits 0 once its report is written, so launch can end."""
    import imageio.v3 as iio

    d, out = domain(), tmp_path / "audit"
    nodes = audit_graph(d, tmp_path, out, {"episodes": 6, "exit_when_done": True})
    client = GraphClient(d, name="end_watcher")
    try:
        state = client.collect(String, names.node_topic(names.ADVERSARY, names.AUDIT_STATE), LATCHED)
        assert nodes["adversary"].proc.wait(timeout=400) == 0, nodes["adversary"].output()[-3000:]
        assert wait_until(lambda: state and state[-1].data == "finished", 10)
        results = json.loads((out / "results.json").read_text())
        assert results["interrupted"] == "" and results["total_episodes"] == 8
        failures = [r for r in logged(out) if r.outcome == "failure"]
        videos = list(out.glob("worst_failure_*.mp4"))
        if failures:  # the top failure mode, re-run on the simulator node and filmed there, every step
            [video] = videos
            frames = iio.imread(video)
            worst = next(r for r in failures if video.stem == "worst_failure_" + "_".join(r.perturbations))
            assert frames.shape == (worst.steps + 1, 256, 256, 3)
        else:
            assert not videos
        assert "Traceback" not in nodes["adversary"].output()
    finally:
        client.close()
        for n in nodes.values():
            n.stop()


def test_a_worker_that_leaves_mid_audit_costs_nothing(tmp_path):
    """Its episode in flight runs again on the other worker at once, under the same id; nothing waits 30 s."""
    d, out = domain(), tmp_path / "audit"
    leaving = audit_graph(d, tmp_path, out, {}, namespace=names.worker_namespace(1))
    staying = audit_graph(d, tmp_path, out, {"episodes": 24, "workers": 2, "retry_initial": 1.0},
                          namespace=names.worker_namespace(0))
    adversary = staying["adversary"]
    try:
        assert wait_until(lambda: sum(r.worker == "worker_1" for r in logged(out)) >= 2, 300), \
            adversary.output()[-3000:]
        for n in leaving.values():  # Ctrl-C on worker.launch.py: the trio stops
            os.kill(n.proc.pid, signal.SIGINT)
        left = time.monotonic()
        before = len(logged(out))
        # The next episodes finish on worker_0 at its own pace: nothing waits on the worker that left.
        assert wait_until(lambda: len(logged(out)) >= before + 2, 60), adversary.output()[-3000:]
        assert time.monotonic() - left < 30
        assert wait_until(lambda: "audit finished" in adversary.output(), 400), adversary.output()[-3000:]
        ids = [r.episode_id for r in logged(out)]
        assert len(ids) == len(set(ids)) == 26
        output = adversary.output()
        assert "worker worker_1 left" in output
        assert "within 30 s" not in output and "did not come within" not in output, output[-3000:]
    finally:
        for n in [*leaving.values(), *staying.values()]:
            n.stop()


# -- a policy node of one's own -------------------------------------------------------------------------------
def test_an_external_policy_node_with_its_own_name_is_found_and_audited(tmp_path):
    """A node written from the README's contract alone (plain rclpy, sensor_msgs), named my_policy: the
    adversary first says exactly what is missing, then audits it as soon as it publishes its action topic."""
    d, out = domain(), tmp_path / "audit"
    nodes = audit_graph(d, tmp_path, out, {"episodes": 4, "policy": "my_lift_script"}, policy=False)
    client = GraphClient(d, name="external_watcher")
    external = None
    try:
        diagnostics = client.collect(DiagnosticArray, names.DIAGNOSTICS, 10)
        state = client.collect(String, names.node_topic(names.ADVERSARY, names.AUDIT_STATE), LATCHED)
        action = names.node_topic(names.POLICY, names.ACTION)

        def says_what_is_missing() -> bool:
            return any(s.name == "robofail: adversary" and f"nothing publishes {action}" in s.message
                       for a in list(diagnostics) for s in a.status)

        assert wait_until(says_what_is_missing, 120), nodes["adversary"].output()[-3000:]
        log_path = tmp_path / "my_policy.log"
        with log_path.open("w") as log:  # a plain process, not the package's node machinery
            external = subprocess.Popen([sys.executable, str(EXTERNAL_POLICY), "--ros-args", "-r",
                                         "__node:=my_policy", "-r", f"__ns:={names.NAMESPACE}"],
                                        env=ros_env(d), cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
        assert wait_until(lambda: state and state[-1].data in ("finished",) or
                          (state and state[-1].data.startswith("error")), 300), nodes["adversary"].output()[-3000:]
        assert state[-1].data == "finished", nodes["adversary"].output()[-3000:]
        records = logged(out)
        assert len(records) == 6 and not [r for r in records if r.outcome == "aborted"], records
        assert all(r.outcome == "success" for r in records if r.perturbations == [])  # it lifts the cube
        # It publishes no policy_id: the audit names it as the launch's `policy` argument does.
        assert json.loads((out / "audit_config.json").read_text())["policy"] == "my_lift_script"
        assert {r.policy_id for r in records} == {"my_lift_script"}
    finally:
        if external is not None:
            external.send_signal(signal.SIGINT)
            # 60 s: on a loaded 2-core CI machine (another 2-worker audit running) its rclpy shutdown took over 20.
            external.wait(timeout=60)
        client.close()
        for n in nodes.values():
            n.stop()


def test_the_external_policy_node_uses_nothing_of_this_package():
    source = EXTERNAL_POLICY.read_text()
    imported = {line.split()[1].split(".")[0] for line in source.splitlines()
                if line.startswith(("import ", "from "))}
    assert imported == {"rclpy", "sensor_msgs"}


# -- ros2 launch (needs launch, launch_ros and ros2cli: not on PyPI) ----------------------------------------------
def _ros2() -> str:
    ros2 = os.environ.get("ROS2") or __import__("shutil").which("ros2")
    if ros2 is None:
        pytest.skip("no `ros2` on PATH (launch and ros2cli are not on PyPI)")
    probe = subprocess.run([ros2, "launch", "--help"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"`{ros2} launch` does not run here: {probe.stderr.strip()[-200:]}")
    return ros2


@pytest.fixture(scope="module")
def launch_prefix(tmp_path_factory):
    """An ament prefix holding this working tree as the installed package: launch files, config, and one
    executable per node that runs the tree's code with this interpreter (as colcon's install would)."""
    ros2 = _ros2()
    prefix = tmp_path_factory.mktemp("prefix")
    (prefix / "share" / "ament_index" / "resource_index" / "packages").mkdir(parents=True)
    (prefix / "share" / "ament_index" / "resource_index" / "packages" / "robofail_ros").touch()
    share = prefix / "share" / "robofail_ros"
    share.mkdir()
    for folder in ("launch", "config"):  # copies: `ros2 launch` does not look into symlinked folders
        subprocess.run(["cp", "-r", str(ROOT / folder), str(share / folder)], check=True)
    (share / "package.xml").write_text((ROOT / "package.xml").read_text())
    lib = prefix / "lib" / "robofail_ros"
    lib.mkdir(parents=True)
    for node in ("simulator", "policy", "perturbation", "adversary", "analysis"):
        script = lib / node
        script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m robofail_ros.nodes.{node} "$@"\n')
        script.chmod(0o755)
    return ros2, prefix


class Launch:
    """`ros2 launch robofail_ros audit.launch.py` in a session of its own, with a small audit's parameters."""

    def __init__(self, launch_prefix, tmp_path: Path, episodes: int, *arguments: str) -> None:
        ros2, prefix = launch_prefix
        params = yaml.safe_load((ROOT / "config" / "audit.yaml").read_text())
        params["/**/adversary"]["ros__parameters"].update(control_episodes=2, episodes=episodes, searcher="uniform")
        params["/**/analysis"]["ros__parameters"].update(searcher="uniform")
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
        self.out = tmp_path / "audit"
        env = ros_env(domain())
        env["AMENT_PREFIX_PATH"] = os.pathsep.join(p for p in (str(prefix), env.get("AMENT_PREFIX_PATH")) if p)
        self.log_path = tmp_path / "launch.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen([ros2, "launch", "robofail_ros", "audit.launch.py",
                                      f"params_file:={tmp_path / 'params.yaml'}", f"out_dir:={self.out}", *arguments],
                                     env=env, cwd=tmp_path, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def node_pids(self) -> list[int]:
        """Processes of this launch's nodes still running (they carry its out_dir or its params file)."""
        found = subprocess.run(["pgrep", "-f", f"robofail_ros.nodes.*{self.log_path.parent}"], capture_output=True,
                               text=True).stdout.split()
        return [int(p) for p in found]

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in self.node_pids():  # never leave a node behind, whatever the test found
            os.kill(pid, signal.SIGKILL)
        self._log.close()


def assert_clean_exit(launch: Launch) -> None:
    """Every node exited 0 by itself: no traceback, no escalation to SIGTERM or SIGKILL, nothing left running."""
    output = launch.output()
    assert "Traceback" not in output and "did not stop" not in output, output[-4000:]
    for node in ("simulator", "policy", "perturbation", "analysis", "adversary"):
        assert re.search(rf"\[INFO\] \[{node}-\d+\]: process has finished cleanly", output), (node, output[-4000:])
    assert "process has died" not in output and "SIGTERM" not in output and "SIGKILL" not in output, output[-4000:]
    assert not launch.node_pids()


def test_the_launch_ends_with_the_audit_and_use_rviz_without_rviz2_only_warns(launch_prefix, tmp_path):
    launch = Launch(launch_prefix, tmp_path, 4, "use_rviz:=true")  # rviz2 is in no ament index here
    try:
        assert launch.proc.wait(timeout=600) == 0, launch.output()[-4000:]
        assert_clean_exit(launch)
        assert "rviz2 is not installed" in launch.output()
        results = json.loads((launch.out / "results.json").read_text())
        assert results["total_episodes"] == 6 and results["interrupted"] == ""
        if any(r.outcome == "failure" for r in logged(launch.out)):
            assert list(launch.out.glob("worst_failure_*.mp4"))
    finally:
        launch.close()


@pytest.mark.parametrize("how", ["SIGINT to launch", "Ctrl-C twice", "SIGTERM to launch"])
def test_a_launch_stopped_mid_audit_stops_every_node_cleanly_and_writes_the_interrupted_report(
        launch_prefix, tmp_path, how):
    launch = Launch(launch_prefix, tmp_path, 200)
    try:
        assert wait_until(lambda: len(logged(launch.out)) >= 4, 300), launch.output()[-4000:]
        started = time.monotonic()
        if how == "SIGINT to launch":  # docker stop (with STOPSIGNAL SIGINT), supervisors, scripts
            launch.proc.send_signal(signal.SIGINT)
        elif how == "Ctrl-C twice":  # a terminal signals the whole process group, and people press twice
            os.killpg(launch.proc.pid, signal.SIGINT)
            time.sleep(0.3)
            os.killpg(launch.proc.pid, signal.SIGINT)
        else:  # launch ends at once on SIGTERM without stopping its nodes: they follow it by themselves
            launch.proc.send_signal(signal.SIGTERM)
        launch.proc.wait(timeout=60)
        assert wait_until(lambda: not launch.node_pids(), SHUTDOWN_GRACE_ADVERSARY), launch.output()[-4000:]
        seconds = time.monotonic() - started
        assert seconds < SHUTDOWN_GRACE_ADVERSARY, seconds
        assert wait_until(lambda: (launch.out / "results.json").exists(), 5)
        done = len(logged(launch.out))
        results = json.loads((launch.out / "results.json").read_text())
        assert results["interrupted"] == f"interrupted after {done} of 202 episodes"
        if how != "SIGTERM to launch":  # with launch gone, nobody reads the nodes' output
            assert launch.proc.returncode == 0
            assert_clean_exit(launch)
            output = launch.output()
            for node in ("simulator", "policy", "perturbation", "analysis", "adversary"):
                stopped = [line for line in output.splitlines()
                           if f"[robofail.{node}]" in line and "stopping on SIGINT" in line]
                assert len(stopped) == 1, (node, output[-4000:])
            assert "again to resume" in output
    finally:
        launch.close()

