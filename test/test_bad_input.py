"""Bad input is refused at once by the command line, in one line, before anything runs or is written.

Each case runs the real CLI in a subprocess, as a user would, and checks: exit code 2, one line on stderr
naming the bad value and what is accepted, no traceback, no progress bar, and an existing audit folder left
byte for byte as it was. Cases run two at a time to keep the module short.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from robofail_ros.config import AuditConfig
from robofail_ros.record import LOCK_NAME, LOG_NAME, FolderBusyError, FolderLock, load_log
from robofail_ros.sim import SimConfig

ROOT = Path(__file__).resolve().parents[1]
LIFT_YAML = ROOT / "config" / "perturbations" / "lift.yaml"
#: Generous: a refusal takes 2-8 s on a loaded 2-CPU machine (imports, and building the model to bind against).
TIMEOUT = 180


def cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{ROOT / 'test'}", COLUMNS="120")
    return subprocess.run([sys.executable, "-m", "robofail_ros.cli", *args], env=env, cwd=ROOT, text=True,
                          capture_output=True, timeout=TIMEOUT)


def folder_state(folder: Path) -> dict[str, str]:
    """Every file under `folder` and a hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_refused(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit code 2, and stderr is one error line (argparse adds its usage line) containing every needle."""
    what = f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 2, what
    assert "Traceback" not in proc.stderr + proc.stdout, what
    assert "%|" not in proc.stderr and " → " not in proc.stderr, what  # no progress bar, no audit header
    lines = [ln for ln in proc.stderr.strip().splitlines() if not ln.startswith("usage:") and not ln.startswith(" ")]
    assert len(lines) == 1, what
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def run_all(cases: dict[str, tuple[str, ...]]) -> dict[str, subprocess.CompletedProcess]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(cli, *args) for name, args in cases.items()}
        return {name: f.result() for name, f in futures.items()}


def write_catalogue(path: Path, edit) -> Path:
    doc = yaml.safe_load(LIFT_YAML.read_text())
    edit(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def fake_audit(folder: Path, task: str = "Lift") -> Path:
    """A folder holding an audit's log header (no episodes), as a finished or resumable audit has."""
    folder.mkdir(parents=True, exist_ok=True)
    config = AuditConfig(sim=SimConfig(task=task), episodes=4, control_episodes=2)
    (folder / LOG_NAME).write_text(json.dumps({"type": "header", "config": config.to_json()}) + "\n")
    return folder


def test_bad_values_for_the_audit_are_refused_before_any_progress_bar(tmp_path):
    typo_geom = write_catalogue(tmp_path / "typo.yaml",
                                lambda d: d["perturbations"][0]["targets"].update(geoms=["cube_g0_vsi"]))
    typo_factor = write_catalogue(tmp_path / "typo_factor.yaml",
                                  lambda d: d["factors"][-1]["targets"].update(geoms=["cube_gO"]))
    no_factors = write_catalogue(tmp_path / "no_factors.yaml", lambda d: d.pop("factors"))
    existing = fake_audit(tmp_path / "existing")
    before = folder_state(existing)
    out = ("--out", str(existing))
    cases = {
        "task": ("audit", "--task", "Foo", *out),
        "catalogue path": ("audit", "--catalogue", str(tmp_path / "nowhere.yaml"), *out),
        "searcher": ("audit", "--searcher", "greedy", *out),
        "policy name": ("audit", "--policy", "visoin", *out),
        "policy module": ("audit", "--policy", "no_such_module:Policy", *out),
        "policy not a policy": ("audit", "--policy", "os:getcwd", *out),
        "policy constructor": ("audit", "--policy", "broken_policies:RaisingInit", *out),
        "zoo path": ("audit", "--policy", f"robomimic:{tmp_path / 'no_model'}", *out),
        "workers 0": ("audit", "--workers", "0", *out),
        "workers huge": ("audit", "--workers", "100000", *out),
        "horizon text": ("audit", "--horizon", "ten", *out),
        "seed text": ("audit", "--seed", "x", *out),
        "discrete searcher, continuous": ("audit", "--continuous", "--searcher", "bandit", *out),
        "continuous, no factors": ("audit", "--continuous", "--catalogue", str(no_factors), *out),
        "catalogue of another task": ("audit", "--task", "Stack", "--catalogue", str(LIFT_YAML), *out),
        "typo'd geom": ("audit", "--catalogue", str(typo_geom), *out),
        "typo'd factor geom": ("audit", "--continuous", "--catalogue", str(typo_factor), *out),
        "missing camera": ("audit", "--policy", "broken_policies:MissingCamera", *out),
        "policy not made for the task": ("audit", "--task", "PickPlaceCan", *out),
        "folder of another task": ("audit", "--task", "Stack", *out),
    }
    results = run_all(cases)
    expected = {
        "task": ("'Foo'", "lift, nutassemblysquare, pickplacecan, stack"),
        "catalogue path": ("nowhere.yaml",),
        "searcher": ("'greedy'", "bandit"),
        "policy name": ("'visoin'", "vision, expert"),
        "policy module": ("'no_such_module'",),
        "policy not a policy": ("'os:getcwd'", "PolicyUnderTest"),
        "policy constructor": ("'broken_policies:RaisingInit'", "RuntimeError: weights.pt not found"),
        "zoo path": ("no_model",),
        "workers 0": ("--workers", "positive integer", "0"),
        "workers huge": ("--workers", "100000", "at most"),
        "horizon text": ("--horizon", "'ten'"),
        "seed text": ("--seed", "'x'"),
        "discrete searcher, continuous": ("'bandit'", "sobol"),
        "continuous, no factors": ("no_factors.yaml", "Tasks with one"),
        "catalogue of another task": ("task Lift", "not Stack"),
        "typo'd geom": ("cube_g0_vsi", "cube_g0_vis"),
        "typo'd factor geom": ("cube_friction", "cube_gO", "cube_g0"),
        "missing camera": ("wristcam_typo", "agentview"),
        "policy not made for the task": ("'vision_scripted'", "Lift, Stack, not PickPlaceCan", "--policy expert"),
        "folder of another task": (str(existing), "sim.task: 'Lift' there, 'Stack' here", "--overwrite"),
    }
    failures = {}
    for name, proc in results.items():
        try:
            assert_refused(proc, *expected[name])
        except AssertionError as exc:
            failures[name] = str(exc)
    assert not failures, "\n\n".join(f"[{k}] {v}" for k, v in failures.items())
    assert folder_state(existing) == before  # nothing written into the existing audit, not even a lock file
    assert not (tmp_path / "audits").exists() and not (ROOT / "audits" / "foo-vision-adaptive-s0").exists()


def test_report_and_replay_refuse_folders_that_hold_no_audit(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an audit")
    results = run_all({
        "report empty": ("report", str(empty)),
        "report missing": ("report", str(tmp_path / "missing")),
        "replay empty": ("replay", str(empty)),
        "replay unknown episode": ("replay", str(fake_audit(tmp_path / "a")), "--episode", "uniform-999"),
        "replay size 0": ("replay", str(empty), "--size", "0"),
        "zoo task": ("zoo", "audit", "--task", "Foo", "--out", str(empty)),
        "zoo model": ("zoo", "build", "--model", "bc-imag"),
        "zoo model task": ("zoo", "build", "--model", "bc-image-lift", "--task", "Stack"),
        "zoo curve": ("zoo", "build", "--curve", "-1"),
    })
    assert_refused(results["zoo task"], "'Foo'", "Lift, Stack")
    assert_refused(results["zoo model"], "'imag'", "low_dim, image, image_proprio")
    assert_refused(results["zoo model task"], "Lift", "--task is Stack")
    assert_refused(results["zoo curve"], "--curve", "'-1'")
    assert_refused(results["report empty"], str(empty), "not an audit folder")
    assert_refused(results["report missing"], "missing", "not an audit folder")
    assert_refused(results["replay empty"], str(empty), "not an audit folder")
    assert_refused(results["replay unknown episode"], "'uniform-999'")
    assert_refused(results["replay size 0"], "--size", "0")
    assert folder_state(empty) == {"notes.txt": hashlib.sha256(b"not an audit").hexdigest()}


HOLDER = """
import sys, time
from robofail_ros.record import FolderLock
lock = FolderLock(sys.argv[1]).acquire()  # kept: the lock lives as long as its open file
print("held", flush=True)
time.sleep(600)
"""


def test_a_second_audit_on_a_held_folder_is_refused_naming_the_holder_and_a_killed_holder_leaves_no_lock(tmp_path):
    folder = fake_audit(tmp_path / "busy")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = folder_state(folder)
        line = assert_refused(cli("audit", "--episodes", "4", "--control-episodes", "2", "--out", str(folder)),
                              str(folder), f"pid {holder.pid}", "in use")
        assert "-c" in line  # the holder's command line, so a person can find it
        assert folder_state(folder) == before
        with pytest.raises(FolderBusyError, match=f"pid {holder.pid}"):
            FolderLock(folder).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)  # a crash: the kernel drops the lock with the process
        holder.wait(timeout=30)
    lock = FolderLock(folder).acquire()  # free at once, although the lock file is still there
    assert (folder / LOCK_NAME).exists()
    lock.release()


def test_the_lock_is_exclusive_between_open_files_of_one_process(tmp_path):
    """flock locks an open file, not a process: run_audit called twice in one process (two ROS adversaries in a
    test, a notebook) is refused too."""
    first = FolderLock(tmp_path).acquire()
    try:
        with pytest.raises(FolderBusyError, match=f"pid {os.getpid()}"):
            FolderLock(tmp_path).acquire()
    finally:
        first.release()
    FolderLock(tmp_path).acquire().release()
    with open(tmp_path / LOCK_NAME) as f:  # released: anyone can take it
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_a_policy_that_cannot_run_unperturbed_stops_after_the_control_run_with_the_reasons(tmp_path):
    out = tmp_path / "audit"
    started = time.monotonic()
    proc = cli("audit", "--policy", "broken_policies:AlwaysRaises", "--episodes", "200", "--control-episodes", "3",
               "--workers", "1", "--horizon", "5", "--searcher", "uniform", "--out", str(out), "--no-video")
    what = f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 2, what
    assert "Traceback" not in proc.stderr, what
    last = proc.stderr.strip().splitlines()[-1]
    assert "aborted all 3 control episodes" in last and "no search was run" in last, what
    assert "3× " in last and "robot0_joint_typo" in last, what  # the reasons, grouped with their counts
    records = load_log(out / LOG_NAME).episodes
    assert [r.searcher for r in records] == ["control"] * 3  # no budget spent
    assert not list(out.glob("*.png")) and not (out / "results.json").exists()  # no empty figures
    assert time.monotonic() - started < TIMEOUT


RENDER_THEN_OPTIMISE = """
import sys
import robofail_ros  # noqa: F401  (all a user's script does to be safe, whatever it renders first)
import mujoco
model = mujoco.MjModel.from_xml_string("<mujoco><worldbody><light pos='0 0 1'/><geom size='.1'/></worldbody></mujoco>")
renderer = mujoco.Renderer(model, 32, 32)
renderer.update_scene(mujoco.MjData(model))
renderer.render()
import torch
torch.optim.Adam([torch.nn.Parameter(torch.zeros(3))]).step()
print("ok")
"""


def test_importing_the_package_makes_rendering_before_torch_safe():
    """Triton (torch's compiler) segfaults when it loads after Mesa's llvmpipe; importing robofail_ros loads it
    first. Without that import this script dies with SIGSEGV (exit -11) on the EGL/llvmpipe machines we run on."""
    pytest.importorskip("triton")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), MUJOCO_GL="egl")
    proc = subprocess.run([sys.executable, "-c", RENDER_THEN_OPTIMISE], env=env, text=True, capture_output=True,
                          timeout=TIMEOUT)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_the_closing_summary_lists_abort_reasons_grouped_with_their_counts(tmp_path):
    proc = cli("audit", "--policy", "broken_policies:AbortsEveryOther", "--episodes", "4", "--control-episodes", "2",
               "--workers", "1", "--horizon", "5", "--searcher", "uniform", "--out", str(tmp_path), "--no-video")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "aborted episodes by reason: 3× policy raised" in proc.stderr and "every other episode" in proc.stderr
