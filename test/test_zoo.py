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


def test_a_sampling_policy_repeats_an_episode_exactly_and_leaves_torchs_global_stream_alone(tiny_models,
                                                                                              clean_lift_sim):
    """BC-RNN's GMM head samples a mixture component every step: the same experiment must still give the same
    actions, whatever else drew from torch's generator in between (another episode, the PPO adversary)."""
    import torch

    policy = load_policy(f"robomimic:{tiny_models['bc_rnn-low_dim']}")
    policy.bind(clean_lift_sim.scene)
    obs = clean_lift_sim.reset(1)
    policy.start_episode()
    first = [policy(obs) for _ in range(3)]
    torch.rand(7)
    before = torch.get_rng_state()
    policy.start_episode()
    again = [policy(obs) for _ in range(3)]
    assert np.allclose(first, again)
    assert torch.equal(torch.get_rng_state(), before)


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
    # a tiny model fails: where its failures stopped is kept, one count per failed episode
    assert sum(meta.nominal_failure_stages.values()) == 2 - meta.nominal_successes - meta.nominal_aborted
    assert set(meta.nominal_failure_stages) <= {"none", "grasped the cube", "lifted the cube"}
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


def _weights(checkpoint):
    import torch

    return torch.load(checkpoint, map_location="cpu", weights_only=False)["model"]


@pytest.mark.parametrize("algo,modality,stop", [("bc", "image", "crash"), ("hbc", "low_dim", "crash"),
                                                ("bc", "low_dim", "ctrl-c")])
def test_a_stopped_training_run_resumes_where_it_was_and_ends_with_the_same_weights(
        lift_demos, tmp_path, monkeypatch, algo, modality, stop):
    """Stopped after step 3 of 6, the rerun continues from the resume state (nets, optimizers, learning-rate
    schedules, random streams) and lands on the weights of an uninterrupted run. A crash relies on the periodic
    saves (here after every chunk); Ctrl-C also writes the state of the last whole chunk on its way out."""
    import torch
    from robofail_ros.zoo import train as T

    budget = Budget(steps=6, batch_size=4, demos=3)
    monkeypatch.setattr(T, "EPOCH_STEPS", 3)
    whole = T.train(algo, modality, lift_demos, budget, tmp_path / "whole" / "model.pth").checkpoint

    class Stop(Exception):
        pass

    monkeypatch.setattr(T, "RESUME_EVERY_S", 0.0 if stop == "crash" else 1e9)

    def crash(done, total, log):
        if done == 3:
            raise Stop if stop == "crash" else KeyboardInterrupt

    stopped = tmp_path / "stopped" / "model.pth"
    with pytest.raises(Stop if stop == "crash" else T.TrainingInterrupted) as stopped_by:
        T.train(algo, modality, lift_demos, budget, stopped, on_progress=crash)
    if stop == "ctrl-c":
        assert (stopped_by.value.saved_steps, stopped_by.value.total_steps) == (3, 6)
    assert T.resume_path(stopped).is_file() and not stopped.exists()
    result = T.train(algo, modality, lift_demos, budget, stopped)
    assert result.resumed_from == 3 and result.steps == 6
    assert not T.resume_path(stopped).exists()  # consumed once the checkpoint is written
    again = T.train(algo, modality, lift_demos, budget, stopped)
    assert again.resumed_from == 6 and again.wall_time == result.wall_time  # finished: not trained a second time
    a, b = _weights(whole), _weights(stopped)
    flat = lambda d: {f"{k}/{n}": t for k, sd in d.items() for n, t in (sd.items() if isinstance(sd, dict) else [("", sd)])}
    fa, fb = flat(a), flat(b)
    assert fa.keys() == fb.keys()
    assert all(torch.equal(fa[k], fb[k]) for k in fa)


def test_a_resume_state_from_another_config_is_ignored(lift_demos, tmp_path, monkeypatch):
    from robofail_ros.zoo import train as T

    monkeypatch.setattr(T, "RESUME_EVERY_S", 0.0)
    monkeypatch.setattr(T, "EPOCH_STEPS", 2)
    checkpoint = tmp_path / "model.pth"

    def crash(done, total, log):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        T.train("bc", "low_dim", lift_demos, Budget(steps=4, batch_size=4, demos=3), checkpoint, on_progress=crash)
    result = T.train("bc", "low_dim", lift_demos, Budget(steps=4, batch_size=8, demos=3), checkpoint)
    assert result.resumed_from == 0  # another batch size is another run: start over rather than mix the two


def test_image_models_train_on_random_crops_and_act_on_the_centre_crop(lift_demos, tiny_models):
    import torch
    from robomimic.models.obs_core import CropRandomizer
    from robofail_ros.zoo.train import IMAGE_CROP, make_config

    rgb = make_config("bc", "image", lift_demos, TINY).observation.encoder.rgb
    assert rgb.obs_randomizer_class == "CropRandomizer" and rgb.obs_randomizer_kwargs.crop_height == IMAGE_CROP < IMAGE_SIZE
    nets = load_policy(f"robomimic:{tiny_models['bc-image']}").rollout.policy.nets
    crops = [m for m in nets.modules() if isinstance(m, CropRandomizer)]
    assert len(crops) == len(CAMERAS)  # the checkpoint carries the augmentation, so evaluation crops the same way
    frame = torch.rand(1, 3, IMAGE_SIZE, IMAGE_SIZE)
    crops[0].eval()
    assert torch.equal(crops[0].forward_in(frame), frame[..., 4:80, 4:80])  # the centre, deterministically


def test_cql_clones_the_demos_for_part_of_its_budget_before_its_actor_follows_the_critic(lift_demos):
    from robofail_ros.zoo.train import CQL_BC_START_SHARE, make_config

    config = make_config("cql", "low_dim", lift_demos, Budget(steps=1000, batch_size=4, demos=3))
    assert 0 < CQL_BC_START_SHARE < 1
    assert config.algo.actor.bc_start_steps == int(1000 * CQL_BC_START_SHARE)


@pytest.mark.parametrize("modality", ["low_dim", "image"])
def test_bc_rnn_has_robomimics_paper_head_a_gmm_straight_on_the_lstm(lift_demos, modality):
    from robofail_ros.zoo.spec import BC_RNN_UNITS, RNN_HORIZON
    from robofail_ros.zoo.train import make_config

    algo = make_config("bc_rnn", modality, lift_demos, Budget(steps=1000, batch_size=4, demos=3)).algo
    assert algo.rnn.enabled and algo.rnn.horizon == RNN_HORIZON and algo.rnn.hidden_dim == BC_RNN_UNITS
    assert algo.gmm.enabled and tuple(algo.actor_layer_dims) == ()
    plain = make_config("bc", modality, lift_demos, Budget(steps=1000, batch_size=4, demos=3)).algo
    assert not plain.rnn.enabled and not plain.gmm.enabled


def test_the_zoo_build_benchmark_sets_each_models_measured_times_beside_its_estimate(tmp_path, monkeypatch):
    import importlib.util
    from pathlib import Path

    from robofail_ros.zoo import cache
    from robofail_ros.zoo.estimate import model_estimate

    spec = importlib.util.spec_from_file_location("zoo_build", Path(__file__).resolve().parents[1] / "bench" / "zoo_build.py")
    zoo_build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(zoo_build)

    monkeypatch.setenv("ROBOFAIL_ZOO_DIR", str(tmp_path))
    budget = default_budget("bc", "image")
    cache.write_meta(cache.ModelMeta(
        name="bc-image-lift", algo="bc", modality="image", task="Lift", budget=budget.to_json(), dataset="d",
        dataset_sha256="a", config_sha256="b", checkpoint_sha256="c", train_wall_time_s=700.0,
        nominal_successes=48, nominal_episodes=50, eval_wall_time_s=90.0,
        curve=[{"steps": 10000, "successes": 15, "episodes": 20}, {"steps": 20000, "successes": 48, "episodes": 50}]),
        cache.model_dir("bc-image-lift"))
    names = zoo_build.default_models("Lift")
    assert "bc-image-lift" in names and "bc_rnn-image_proprio-lift" not in names
    table = {r["model"]: r for r in zoo_build.rows(names, cached_before={"bc-image-lift"})}
    row = table["bc-image-lift"]
    expected = model_estimate("bc", "image", "Lift", budget, 50, curve_snapshots=1, curve_episodes=20)
    assert (row["train_s"], row["eval_s"], row["nominal"], row["cached_before"]) == (700.0, 90.0, "48/50", True)
    assert (row["est_train_s"], row["est_eval_s"]) == pytest.approx((expected.train_s, expected.eval_s))
    assert not table["bc-low_dim-lift"]["built"]


def test_every_learning_rate_decays_linearly_over_the_budget(lift_demos):
    from robofail_ros.zoo.train import LR_FINAL_FACTOR, make_config

    optim = make_config("cql", "low_dim", lift_demos, Budget(steps=1000, batch_size=4, demos=3)).algo.optim_params
    for net in ("critic", "actor"):
        rate = optim[net].learning_rate
        assert (rate.scheduler_type, rate.epoch_schedule, rate.decay_factor) == ("linear", [20], LR_FINAL_FACTOR)


def test_the_learning_curve_is_measured_at_snapshots_and_kept_with_the_model(lift_demos, clean_lift_sim, tmp_path,
                                                                               monkeypatch):
    from robofail_ros.zoo import cache, train as T
    from robofail_ros.zoo.build import build_model, curve_steps

    monkeypatch.setenv("ROBOFAIL_ZOO_DIR", str(tmp_path))
    monkeypatch.setattr(T, "EPOCH_STEPS", 2)
    assert curve_steps(8, 3) == (2, 4, 6) and curve_steps(3, 1) == (2,)
    seen = []
    meta, _ = build_model(clean_lift_sim, "bc", "low_dim", lift_demos, cache.sha256_file(lift_demos),
                          Budget(steps=8, batch_size=4, demos=3), nominal_episodes=2, curve_points=3, curve_episodes=1,
                          on_curve=seen.append)
    assert [p["steps"] for p in meta.curve] == [2, 4, 6, 8]
    assert [p["episodes"] for p in meta.curve] == [1, 1, 1, 2] and seen == meta.curve[:3]
    assert all((cache.model_dir(meta.name) / f"model.step{s}.pth").is_file() for s in (2, 4, 6))


def test_a_model_name_reads_back_into_its_algorithm_modality_and_task():
    from robofail_ros.zoo.spec import model_name, parse_model_name

    assert parse_model_name("bc_rnn-image_proprio") == ("bc_rnn", "image_proprio", None)
    assert parse_model_name(model_name("hbc", "low_dim", "PickPlaceCan")) == ("hbc", "low_dim", "PickPlaceCan")
    with pytest.raises(ValueError, match="bad model name 'bc'.*ALGORITHM-MODALITY"):
        parse_model_name("bc")
    with pytest.raises(ValueError, match="unknown algorithm 'gail'; accepted: bc, bc_rnn"):
        parse_model_name("gail-image")


def test_the_build_estimate_counts_only_what_is_left_and_scales_with_batch_and_horizon():
    from robofail_ros.zoo.estimate import format_duration, model_estimate, step_seconds

    budget = Budget(steps=1000, batch_size=16, demos=100)
    fresh = model_estimate("bc", "image", "Lift", budget, nominal_episodes=50)
    half = model_estimate("bc", "image", "Lift", budget, nominal_episodes=50, done_steps=500)
    assert half.train_s == pytest.approx(fresh.train_s / 2) and half.eval_s == fresh.eval_s
    curve = model_estimate("bc", "image", "Lift", budget, nominal_episodes=50, curve_snapshots=2, curve_episodes=25)
    assert curve.eval_s == pytest.approx(2 * fresh.eval_s)
    assert model_estimate("bc", "low_dim", "PickPlaceCan", budget, 50).eval_s == pytest.approx(
        3 * model_estimate("bc", "low_dim", "Lift", budget, 50).eval_s)  # horizon 300 against 100
    assert step_seconds("bc", "image", 32) == pytest.approx(2 * step_seconds("bc", "image", 16))
    assert [format_duration(s) for s in (40, 720, 3900)] == ["40 s", "12 min", "1 h 05 min"]


def test_a_build_stopped_mid_training_says_it_will_resume_and_then_does(lift_demos, clean_lift_sim, tmp_path,
                                                                          monkeypatch):
    from robofail_ros.zoo import cache, train as T
    from robofail_ros.zoo.build import build_model, plan_model

    monkeypatch.setenv("ROBOFAIL_ZOO_DIR", str(tmp_path))
    monkeypatch.setattr(T, "EPOCH_STEPS", 2)
    monkeypatch.setattr(T, "RESUME_EVERY_S", 0.0)
    sha, budget = cache.sha256_file(lift_demos), Budget(steps=6, batch_size=4, demos=3)

    def stop_at_4(done, total, log):
        if done == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_model(clean_lift_sim, "bc", "low_dim", lift_demos, sha, budget, nominal_episodes=1, on_progress=stop_at_4)
    plan = plan_model("Lift", "bc", "low_dim", lift_demos, sha, budget, nominal_episodes=1)
    assert plan.cached is None and plan.resume_steps == 4
    steps_seen = []
    meta, trained = build_model(clean_lift_sim, "bc", "low_dim", lift_demos, sha, budget, nominal_episodes=1,
                                on_progress=lambda done, total, log: steps_seen.append(done))
    assert trained and steps_seen == [6]  # only the last epoch was trained again
    assert plan_model("Lift", "bc", "low_dim", lift_demos, sha, budget, nominal_episodes=1).cached == meta


def test_the_default_build_is_every_low_dim_model_and_the_image_models_measured_to_learn_here_within_three_hours():
    from robofail_ros.zoo.estimate import demos_seconds, model_estimate
    from robofail_ros.zoo.spec import ALGOS, DEFAULT_BUILD, NOMINAL_EPISODES

    assert {a for a, m in DEFAULT_BUILD if m == "low_dim"} == set(ALGOS)
    assert {(a, m) for a, m in DEFAULT_BUILD if m != "low_dim"} == {
        ("bc", "image"), ("bc", "image_proprio"), ("bc_rnn", "image")}
    total = demos_seconds("Lift", 100) + sum(
        model_estimate(a, m, "Lift", default_budget(a, m), NOMINAL_EPISODES).total_s for a, m in DEFAULT_BUILD)
    assert total <= 3 * 3600  # the bound, by the rates measured here (docs/results.md has the real run)


def test_a_zoo_audit_with_a_continuous_searcher_compares_the_models_factor_by_factor(tiny_models, tmp_path, monkeypatch):
    """`zoo audit --searcher sobol`: every model searches the factor box and gets its scene report, and the zoo's
    comparison is the models x factors one, not the catalogue's (whose perturbations such an audit never ran)."""
    from robofail_ros.report.scene_compare import HEATMAP_NAME, TABLE_NAME
    from robofail_ros.zoo import audit as zoo_audit
    from robofail_ros.zoo.cache import ModelMeta

    def meta(name):  # the tiny checkpoints never succeed; their nominal record is set so the zoo audits them
        return ModelMeta(name=f"{name}-lift", algo=name.split("-")[0], modality="low_dim", task="Lift",
                         budget=TINY.to_json(), dataset="d", dataset_sha256="a", config_sha256="b",
                         checkpoint_sha256="c", train_wall_time_s=1.0, nominal_successes=2, nominal_episodes=2)

    monkeypatch.setattr(zoo_audit.cache, "list_models",
                        lambda: [(tiny_models[n], meta(n)) for n in ("bc-low_dim", "bc_rnn-low_dim")])
    rows = zoo_audit.audit_zoo(task="Lift", searcher="sobol", episodes=4, control_episodes=2, workers=1, seed=0,
                               out=tmp_path)
    assert [r.meta.name for r in rows] == ["bc-low_dim-lift", "bc_rnn-low_dim-lift"]
    assert all(r.analysis.episodes == 4 and r.analysis.control.episodes == 2 for r in rows)
    for r in rows:
        assert (tmp_path / r.meta.name / "factor_curves.png").is_file()  # each model's own scene report
    assert (tmp_path / HEATMAP_NAME).is_file()
    comparison = (tmp_path / TABLE_NAME).read_text()  # control failures, then searched scenes failed
    assert "| bc-low_dim-lift | 2/2 [34, 100]% | 4/4 |" in comparison and "| bc_rnn-low_dim-lift |" in comparison
    zoo_table = (tmp_path / zoo_audit.TABLE_NAME).read_text()
    assert zoo_table.startswith("| " + " | ".join(zoo_audit.SCENE_HEADERS) + " |")
    assert "| bc-low_dim-lift | 2/2 [0, 100]% | 2/2 [34, 100]% | 4/4 | none found |" in zoo_table
    assert not (tmp_path / zoo_audit.GROUPS_NAME).exists()  # catalogue groups: no named perturbation ran

