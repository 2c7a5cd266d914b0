"""The paper's failure-search MDP as a gymnasium environment."""
import numpy as np
import pytest
from stable_baselines3.common.env_checker import check_env

from robofail_ros.adversary_env import AdversaryEnv
from robofail_ros.config import AuditConfig
from robofail_ros.sim import SimConfig


@pytest.fixture(scope="module")
def env():
    e = AdversaryEnv(AuditConfig(sim=SimConfig(task="Lift"), policy="vision", searcher="ppo", max_depth=2,
                                 control_episodes=5, workers=1))
    yield e
    e.close()


def test_passes_stable_baselines3_check_env(env):
    check_env(env, warn=True)


def test_spaces_are_the_papers(env):
    assert env.action_space.n == len(env.sim.catalogue) == 27
    assert env.observation_space.shape == (3, 84, 84) and env.observation_space.dtype == np.uint8


def test_failure_pays_1000_and_ends_the_adversary_episode(env):
    env.reset()
    obs, reward, terminated, truncated, info = env.step(env.names.index("table_red"))
    assert reward == 1000.0 and terminated and not truncated
    assert info["episode_record"]["perturbations"] == ["table_red"]


def test_success_costs_100_over_T_and_perturbations_accumulate_up_to_max_depth(env):
    first_obs, _ = env.reset()
    obs, reward, terminated, truncated, info = env.step(env.names.index("table_green"))
    steps = info["episode_record"]["steps"]
    assert reward == pytest.approx(-100.0 / steps) and not terminated and not truncated
    assert not np.array_equal(obs, first_obs)  # the observation shows the green table
    obs, reward, terminated, truncated, info = env.step(env.names.index("light_grey"))
    assert info["episode_record"]["perturbations"] == ["table_green", "light_grey"]
    assert truncated or terminated  # depth 2 reached


def test_observation_of_the_unperturbed_scene_is_fixed(env):
    a, _ = env.reset()
    env.step(env.names.index("table_blue"))
    b, _ = env.reset()
    assert np.array_equal(a, b)


def test_out_of_range_action_is_rejected(env):
    env.reset()
    with pytest.raises(ValueError, match="outside Discrete\\(27\\)"):
        env.step(27)
