"""The policy zoo: recorded demos are a valid robomimic dataset, a tiny training run gives a policy under test.

The full zoo (15 models, ~45 min here) is a benchmark, not a test: these use a few demos
and a handful of gradient steps, which is enough to check every interface but not quality.
"""
import json

import numpy as np
import pytest

pytest.importorskip("robomimic", reason="the policy zoo needs the zoo extra (requirements-zoo.txt)")

from robofail_ros.episode import ABORTED, run_episode  # noqa: E402
from robofail_ros.policies import PolicySpecError, load_policy  # noqa: E402
from robofail_ros.policies.base import check_task  # noqa: E402
from robofail_ros.zoo.spec import Budget, CAMERAS, default_budget, IMAGE_SIZE, PROPRIO_KEYS, modality_keys  # noqa: E402

from conftest import TINY_ZOO_BUDGET  # noqa: E402

TINY = Budget(**TINY_ZOO_BUDGET)


@pytest.fixture
def lift_demos(zoo_lift_demos):
    return zoo_lift_demos


@pytest.fixture
def tiny_models(tiny_zoo_models):
    return tiny_zoo_models


def test_recorded_demos_load_through_robomimics_own_loader(lift_demos):
    import robomimic.utils.file_utils as FileUtils
    import robomimic.utils.obs_utils as ObsUtils
    from robomimic.utils.dataset import SequenceDataset

    low_dim, images = modality_keys("image_proprio")
    low_dim = low_dim + ["object"]
    ObsUtils.initialize_obs_modality_mapping_from_dict({"low_dim": low_dim, "rgb": images})
    env_meta = FileUtils.get_env_metadata_from_dataset(str(lift_demos))
    assert env_meta["env_name"] == "Lift" and env_meta["type"] == 1  # 1: robosuite
    train, valid = (FileUtils.get_demos_for_filter_key(str(lift_demos), k) for k in ("train", "valid"))
    assert len(train) == 2 and len(valid) == 1 and not set(train) & set(valid)

    data = SequenceDataset(str(lift_demos), obs_keys=tuple(low_dim + images), dataset_keys=("actions", "rewards", "dones"),
                           hdf5_cache_mode="low_dim", filter_by_attribute="train", load_next_obs=True)
    item = data[0]
    for cam in CAMERAS:
        image = item["obs"][f"{cam}_image"]
        assert image.shape == (1, IMAGE_SIZE, IMAGE_SIZE, 3) and image.dtype == np.uint8
        assert image.std() > 5  # a rendered scene, not a blank frame
    assert item["obs"]["object"].shape == (1, 10)
    assert item["actions"].shape == (1, 7) and np.all(np.abs(item["actions"]) <= 1)
    rewards = np.concatenate([data.get_dataset_for_ep(d, "rewards") for d in train])
    assert rewards.sum() == len(train)  # sparse: one success reward at the end of every (successful) demo


def test_stack_demos_record_both_cubes(tmp_path):
    import h5py

    from robofail_ros.zoo.demos import record_demos

    path = record_demos(tmp_path / "stack.hdf5", task="Stack", demos=2, seed=0).path
    with h5py.File(path) as f:
        obs = f["data/demo_0/obs"]
        assert {"cubeA_pos", "cubeB_pos", "object", "agentview_image", *PROPRIO_KEYS} <= set(obs)
        assert f["data/demo_0"].attrs["num_samples"] == len(f["data/demo_0/actions"])


@pytest.mark.parametrize("task, object_key", [("PickPlaceCan", "Can_pos"), ("NutAssemblySquare", "SquareNut_pos")])
def test_the_carry_tasks_record_successful_demos_of_their_object(tmp_path, task, object_key):
    import h5py

    from robofail_ros.zoo.demos import record_demos

    stats = record_demos(tmp_path / "demos.hdf5", task=task, demos=2, seed=0)
    with h5py.File(stats.path) as f:
        assert stats.attempts == 2  # the expert's noisy demos succeed
        assert {object_key, "object", "agentview_image", *PROPRIO_KEYS} <= set(f["data/demo_0/obs"])
        assert json.loads(f["data"].attrs["env_args"])["env_name"] == task  # a checkpoint trained on it knows its task
        assert f["data/demo_1/rewards"][-1] == 1.0


@pytest.mark.parametrize("name", ["bc-low_dim", "bc_rnn-low_dim", "bc-image"])
def test_a_tiny_checkpoint_is_a_policy_under_test(tiny_models, clean_lift_sim, name):
    policy = load_policy(f"robomimic:{tiny_models[name]}")
    expected_cameras = () if name.endswith("low_dim") else CAMERAS
    assert policy.needs.cameras == expected_cameras  # only what the model reads is rendered
    policy.bind(clean_lift_sim.scene)
    record = run_episode(clean_lift_sim, policy, ["table_red"], seed=3)
    assert record.outcome != ABORTED, record.reason
    assert record.steps > 0 and record.policy_id.startswith("robomimic-")


def test_default_budgets_grow_with_the_task_and_name_an_unknown_task():
    lift = default_budget("bc", "low_dim")
    assert default_budget("bc", "low_dim", task="PickPlaceCan").steps == 4 * lift.steps  # longer, multi-phase demos
    assert default_budget("bc", "low_dim", task="Stack") == lift
    with pytest.raises(ValueError, match="unknown task 'Pick'; accepted: Lift, Stack, PickPlaceCan"):
        default_budget("bc", "low_dim", task="Pick")


def test_a_checkpoint_is_refused_on_a_task_it_was_not_trained_for(tiny_models):
    policy = load_policy(f"robomimic:{tiny_models['bc-low_dim']}")
    assert policy.tasks == ("Lift",)  # read from the checkpoint's environment metadata
    check_task(policy, "Lift")
    with pytest.raises(PolicySpecError, match="not Stack.*zoo build --task Stack"):
        check_task(policy, "Stack")


def test_start_episode_resets_the_rnn_state(tiny_models, clean_lift_sim):
    policy = load_policy(f"robomimic:{tiny_models['bc_rnn-low_dim']}")
    policy.bind(clean_lift_sim.scene)
    obs = clean_lift_sim.reset(1)
    policy.start_episode()
    first, second = policy(obs), policy(obs)
    assert not np.allclose(first, second)  # the same observation again: the hidden state moved on
    policy.start_episode()
    assert np.allclose(policy(obs), first)


def test_bad_checkpoint_paths_are_rejected_clearly(tmp_path):
    with pytest.raises(PolicySpecError, match="no robomimic checkpoint at .*accepted: robomimic:FILE.pth"):
        load_policy(f"robomimic:{tmp_path / 'missing.pth'}")
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(PolicySpecError, match="cannot load robomimic checkpoint"):
        load_policy(f"robomimic:{tmp_path / 'garbage.pth'}")


def test_build_caches_a_model_with_its_provenance_and_reuses_it(lift_demos, clean_lift_sim, tmp_path, monkeypatch):
    from robofail_ros.zoo import cache
    from robofail_ros.zoo.build import build_model

    monkeypatch.setenv("ROBOFAIL_ZOO_DIR", str(tmp_path))
    sha = cache.sha256_file(lift_demos)
    meta, trained = build_model(clean_lift_sim, "bc", "low_dim", lift_demos, sha, TINY, nominal_episodes=2)
    assert trained and meta.name == "bc-low_dim-lift" and meta.nominal_episodes == 2
    folder = cache.model_dir(meta.name)
    assert meta.checkpoint_sha256 == cache.sha256_file(folder / cache.CHECKPOINT_NAME)
    assert meta.dataset_sha256 == sha and meta.budget == TINY.to_json() and meta.versions["robomimic"] == "0.3.0"
    assert load_policy(f"robomimic:{folder}").policy_id == "bc-low_dim-lift"  # a zoo folder names its policy
    again, trained = build_model(clean_lift_sim, "bc", "low_dim", lift_demos, sha, TINY, nominal_episodes=2)
    assert not trained and again == cache.read_meta(folder)
    assert [m.name for _, m in cache.list_models()] == ["bc-low_dim-lift"]


def test_zoo_table_lists_models_without_nominal_success_instead_of_hiding_them():
    from robofail_ros.zoo.audit import ZooRow, markdown_table
    from robofail_ros.zoo.cache import ModelMeta

    meta = ModelMeta(name="cql-image-lift", algo="cql", modality="image", task="Lift", budget=TINY.to_json(),
                     dataset="d", dataset_sha256="a", config_sha256="b", checkpoint_sha256="c", train_wall_time_s=1.0,
                     nominal_successes=0, nominal_episodes=20, nominal_ci=(0.0, 0.161))
    row = ZooRow(meta, None, skipped="no nominal success")
    assert "| cql-image-lift | 0/20 [0, 16]% | — | not audited: no nominal success | — | — | — |" in markdown_table([row])
