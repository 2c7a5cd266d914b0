"""The episode runner: records, determinism, early stop, and aborts that are never counted as failures."""
import numpy as np
import pytest

from robofail_ros.episode import ABORTED, FAILURE, SUCCESS, EpisodeRecord, run_episode
from robofail_ros.policies import PolicyUnderTest, ScriptedExpert, VisionScriptedPolicy
from robofail_ros.reward import adversary_reward


class NaNPolicy(PolicyUnderTest):
    policy_id = "nan"

    def __call__(self, obs):
        return np.full(self.scene.action_dim, np.nan)


class WrongShapePolicy(PolicyUnderTest):
    def __call__(self, obs):
        return np.zeros(3)


class CrashingPolicy(PolicyUnderTest):
    def __call__(self, obs):
        raise RuntimeError("weights not found")


class CountingPolicy(ScriptedExpert):
    starts = 0

    def start_episode(self):
        CountingPolicy.starts += 1
        super().start_episode()


def test_record_holds_what_is_needed_to_replay_and_stops_early_on_success(clean_lift_sim):
    policy = ScriptedExpert()
    policy.bind(clean_lift_sim.scene)
    r = run_episode(clean_lift_sim, policy, ["table_green"], seed=7, episode_id="e1")
    assert (r.episode_id, r.seed, r.perturbations, r.outcome, r.policy_id, r.task) == \
        ("e1", 7, ["table_green"], SUCCESS, "scripted_expert", "Lift")
    assert 20 < r.steps < clean_lift_sim.config.horizon
    assert r.reward == pytest.approx(-100.0 / r.steps)
    assert r.wall_time > 0
    assert EpisodeRecord.from_json(r.to_json()) == r


def test_failure_runs_to_the_horizon_and_earns_the_adversary_1000(clean_lift_sim):
    policy = VisionScriptedPolicy()
    policy.bind(clean_lift_sim.scene)
    r = run_episode(clean_lift_sim, policy, ["cube_green"], seed=0)
    assert r.outcome == FAILURE and r.steps == clean_lift_sim.config.horizon and r.reward == 1000.0


def test_same_seed_and_perturbations_give_the_same_episode_whatever_ran_before(clean_lift_sim):
    policy = VisionScriptedPolicy()
    policy.bind(clean_lift_sim.scene)
    first = run_episode(clean_lift_sim, policy, ["cube_size_bar"], seed=11)
    run_episode(clean_lift_sim, policy, ["table_red", "cube_heavy"], seed=3)
    again = run_episode(clean_lift_sim, policy, ["cube_size_bar"], seed=11)
    filmed = run_episode(clean_lift_sim, policy, ["cube_size_bar"], seed=11, film_size=64)
    assert (first.outcome, first.steps) == (again.outcome, again.steps) == (filmed.outcome, filmed.steps)
    assert len(filmed.frames) == filmed.steps + 1 and filmed.frames[0].shape == (64, 64, 3)


def test_start_episode_is_called_before_every_rollout(clean_lift_sim):
    policy = CountingPolicy()
    policy.bind(clean_lift_sim.scene)
    CountingPolicy.starts = 0
    for seed in range(3):
        run_episode(clean_lift_sim, policy, [], seed)
    assert CountingPolicy.starts == 3


@pytest.mark.parametrize("policy_cls, reason", [
    (NaNPolicy, "invalid action at step 0: action contains NaN or inf"),
    (WrongShapePolicy, "invalid action at step 0: action has shape (3,), expected (7,)"),
    (CrashingPolicy, "policy raised at step 0: RuntimeError: weights not found"),
])
def test_broken_policies_abort_the_episode_with_a_reason_and_no_reward(clean_lift_sim, policy_cls, reason):
    policy = policy_cls()
    policy.bind(clean_lift_sim.scene)
    qpos_before = clean_lift_sim.reset(0) and clean_lift_sim.data.qpos.copy()
    r = run_episode(clean_lift_sim, policy, [], seed=0)
    assert r.outcome == ABORTED and r.reason.startswith(reason) and r.reward == 0.0 and not r.failed
    assert np.array_equal(clean_lift_sim.data.qpos, qpos_before)  # no bad action reached the simulator


def test_reward_formula_is_the_papers():
    assert adversary_reward(success=False, steps=100) == 1000.0
    assert adversary_reward(success=True, steps=50) == pytest.approx(-2.0)
