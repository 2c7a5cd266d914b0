"""End-to-end audits on the real simulator: report files, resumption after a kill, clear refusals."""
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from robofail_ros.audit import AuditFolderError, AuditInterrupted, run_audit
from robofail_ros.config import AuditConfig, PPOConfig
from robofail_ros.record import LOG_NAME, AuditLog, load_log

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.Popen([sys.executable, "-m", "robofail_ros.cli", *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_small_bandit_audit_writes_its_report(tmp_path):
    config = AuditConfig(searcher="bandit", episodes=24, control_episodes=6, workers=2)
    result = run_audit(config, tmp_path)
    assert len(result.records) == 30
    names = {p.name for p in result.files}
    assert {"results.json", "failure_rates.csv", "heatmap_rate.png", "grouped_bars.png", "stacked_bars.png",
            "radar_vision_scripted.png"} <= names
    assert any(n.startswith("worst_failure_") and n.endswith(".mp4") for n in names)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["control"]["episodes"] == 6
    assert sum(p["episodes"] for p in results["perturbations"]) == 24
    assert {r.worker for r in result.records} == {"w0", "w1"}
    stages = list(csv.DictReader((tmp_path / "failure_stages.csv").open()))  # where each failure stopped
    assert sum(int(r["failures"]) for r in stages) == sum(r.failed for r in result.records)


def test_an_episode_logged_as_the_stop_came_is_counted_in_the_stopped_audits_report(tmp_path, monkeypatch):
    """Ctrl-C during the log's fsync (seen in CI: the log held 4 episodes, the message said 3): the report and the
    message count what the log holds, since the log is what a resumed audit goes on from."""
    log_append = AuditLog.append
    logged_so_far = []

    def append_then_stop(self, record):
        log_append(self, record)
        logged_so_far.append(record)
        if len(logged_so_far) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(AuditLog, "append", append_then_stop)
    config = AuditConfig(searcher="uniform", episodes=6, control_episodes=2, workers=1)
    with pytest.raises(AuditInterrupted) as stopped:
        run_audit(config, tmp_path, film=False)
    assert len(load_log(tmp_path / LOG_NAME).episodes) == 3
    assert stopped.value.done == 3
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["total_episodes"] == 3 and results["interrupted"] == "interrupted after 3 of 8 episodes"


def _sb3_log_folders() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("SB3-*")}


def test_small_ppo_audit_reports_pi_and_its_entropy(tmp_path):
    config = AuditConfig(searcher="ppo", episodes=16, control_episodes=2, workers=1, ppo=PPOConfig(n_steps=8))
    folders_before = _sb3_log_folders()
    result = run_audit(config, tmp_path, film=False)
    assert _sb3_log_folders() <= folders_before, "PPO must not leave SB3 log folders in the temp directory"
    pi = result.analysis.pi
    assert pi is not None and len(pi) == 27 and sum(pi) == pytest.approx(1.0, abs=1e-5)
    assert 0 < result.analysis.entropy_pi <= 3.2958  # ln 27
    assert sum(r.searcher == "ppo" for r in result.records) == 16
    snapshots = load_log(tmp_path / LOG_NAME).snapshots
    assert snapshots[-1]["final"] and snapshots[-1]["pi"] == pytest.approx(pi)
    assert (tmp_path / "ppo_adversary.zip").exists() and (tmp_path / "heatmap_pi.png").exists()
    # 16 episodes are two rollouts of 8, and PPO must have learnt from both (the last one too).
    from stable_baselines3 import PPO

    assert PPO.load(tmp_path / "ppo_adversary.zip", device="cpu")._n_updates == 2 * PPOConfig().n_epochs


def test_small_adaptive_audit_sees_every_perturbation_and_states_its_budget(tmp_path):
    from robofail_ros.catalogue import load_catalogue

    names = load_catalogue("Lift").names
    config = AuditConfig(searcher="adaptive", episodes=len(names) + 3, control_episodes=2, workers=2)
    result = run_audit(config, tmp_path, film=False)
    searched = [r for r in result.records if r.searcher == "adaptive"]
    assert len(searched) == len(names) + 3
    assert [r.perturbations[0] for r in searched[:len(names)]] == names  # the round-robin pass comes first
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["searcher"] == "adaptive" and results["budget"] == len(names) + 3


def test_audit_killed_midway_resumes_without_losing_or_repeating_an_episode(tmp_path):
    args = ["audit", "--searcher", "uniform", "--episodes", "40", "--control-episodes", "4", "--workers", "2",
            "--out", str(tmp_path), "--no-video"]
    proc = cli(*args, start_new_session=True)
    log_path = tmp_path / LOG_NAME
    deadline = time.time() + 240
    while time.time() < deadline:
        if log_path.exists() and len(load_log(log_path).episodes) >= 14:
            break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: main process and workers
    proc.wait()
    before = load_log(log_path).episodes
    assert 14 <= len(before) < 44, "the audit should have been killed mid-way"

    proc = cli(*args)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    after = load_log(log_path).episodes
    ids = [r.episode_id for r in after]
    assert len(ids) == len(set(ids)) == 44
    assert set(ids) == {f"control-{i:04d}" for i in range(4)} | {f"uniform-{j:06d}" for j in range(40)}
    assert [r.to_json() for r in after[:len(before)]] == [r.to_json() for r in before]  # nothing rewritten


def test_a_folder_holding_a_different_audit_is_refused(tmp_path):
    run_audit(AuditConfig(searcher="uniform", episodes=2, control_episodes=1, workers=1), tmp_path, film=False)
    with pytest.raises(AuditFolderError, match="differs in: policy"):
        run_audit(AuditConfig(searcher="uniform", episodes=2, control_episodes=1, workers=1, policy="expert"), tmp_path)
    proc = cli("audit", "--searcher", "uniform", "--episodes", "2", "--control-episodes", "1", "--policy", "expert",
               "--out", str(tmp_path))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "holds an audit with a different configuration" in err
    assert len(load_log(tmp_path / LOG_NAME).episodes) == 3  # nothing lost


@pytest.mark.parametrize("args, message", [
    (["--policy", "visoin"], "unknown policy 'visoin'"),
    (["--task", "Pour"], "unknown task 'Pour'"),
    (["--episodes", "0"], "expected a positive integer, got 0"),
    (["--searcher", "random"], "invalid choice: 'random'"),
])
def test_bad_cli_input_names_the_value_and_what_is_accepted(tmp_path, args, message):
    proc = cli("audit", "--out", str(tmp_path / "x"), "--episodes", "2", "--control-episodes", "1", *args)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and message in err


def test_report_and_replay_commands_work_from_the_log(tmp_path):
    run_audit(AuditConfig(searcher="uniform", episodes=27, control_episodes=1, workers=1), tmp_path, film=False)
    (tmp_path / "heatmap_rate.png").unlink()
    proc = cli("report", str(tmp_path))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err and (tmp_path / "heatmap_rate.png").exists()
    proc = cli("replay", str(tmp_path), "--size", "64")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    replay = json.loads(out)
    assert replay["reproduced"] and Path(replay["video"]).stat().st_size > 0


def test_report_never_writes_into_another_audits_folder_unless_asked(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        run_audit(AuditConfig(searcher="uniform", episodes=2, control_episodes=1, workers=1), folder, film=False)
    before = (b / "results.json").read_bytes()
    proc = cli("report", str(a), "--out", str(b))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "holds another audit" in err
    assert (b / "results.json").read_bytes() == before
    proc = cli("report", str(a), "--out", str(b), "--overwrite")
    assert proc.wait(timeout=120) == 0
