"""Policies under test: the expert is the sanity reference, the vision policy has real visual failure modes."""
import numpy as np
import pytest

from robofail_ros.episode import run_episode
from robofail_ros.policies import PolicySpecError, PolicyUnderTest, ScriptedExpert, VisionScriptedPolicy, load_policy

SEEDS = range(10)


def success_count(sim, policy, perturbations):
    policy.bind(sim.scene)
    return sum(run_episode(sim, policy, perturbations, s).success for s in SEEDS)


def test_expert_succeeds_nominally(clean_lift_sim):
    assert success_count(clean_lift_sim, ScriptedExpert(), []) >= 9


@pytest.mark.parametrize("perturbation", ["table_red", "cube_green", "light_red", "robot_red"])
def test_visual_perturbations_do_not_hurt_the_privileged_expert(clean_lift_sim, perturbation):
    assert success_count(clean_lift_sim, ScriptedExpert(), [perturbation]) >= 9


def test_vision_policy_succeeds_nominally_and_fails_a_red_table_in_most_seeds(clean_lift_sim):
    assert success_count(clean_lift_sim, VisionScriptedPolicy(), []) >= 9
    assert success_count(clean_lift_sim, VisionScriptedPolicy(), ["table_red"]) <= 3


def test_vision_policy_reads_one_frame_per_episode():
    needs = VisionScriptedPolicy.needs
    assert needs.cameras == ("agentview",)
    assert [needs.renders_at(t) for t in range(3)] == [True, False, False]
    assert ScriptedExpert.needs.cameras == ()


def test_builtin_and_user_policies_load_by_spec():
    assert isinstance(load_policy("vision"), VisionScriptedPolicy)
    assert isinstance(load_policy("expert"), ScriptedExpert)
    user = load_policy("robofail_ros.policies.expert:ScriptedExpert")
    assert isinstance(user, PolicyUnderTest)


@pytest.mark.parametrize("spec, message", [
    ("visoin", "unknown policy 'visoin'; accepted: vision, expert"),
    ("no_such_module:Thing", "cannot import module 'no_such_module'"),
    ("robofail_ros.policies:Missing", "has no attribute 'Missing'"),
    ("numpy:ndarray", "is not a PolicyUnderTest subclass"),
    ("os:system()", "malformed policy spec"),
])
def test_bad_policy_specs_are_rejected_clearly(spec, message):
    with pytest.raises(PolicySpecError, match=message.replace("(", "\\(").replace(")", "\\)")):
        load_policy(spec)


def test_vision_policy_backprojects_the_cube_it_sees(clean_lift_sim):
    sim = clean_lift_sim
    obs = sim.reset(3)
    policy = VisionScriptedPolicy()
    policy.bind(sim.scene)
    policy.start_episode()
    policy(sim.observe(obs, policy.needs, 0))
    seen = policy.detection.pick
    assert seen is not None
    assert np.linalg.norm(seen[:2] - obs["cube_pos"][:2]) < 0.015
