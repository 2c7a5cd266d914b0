"""PickPlaceCan and NutAssemblySquare on the real simulator: their role-written catalogues bind to the task's parts,
every perturbation and every factor applies and clears bit for bit, a named perturbation edits the model as its
scene does, the scripted expert succeeds and visual perturbations leave it alone, and a small audit runs end to end
(issue 14, items 1, 2, 3 and 6)."""
import json

import numpy as np
import pytest
import yaml

from robofail_ros.audit import run_audit
from robofail_ros.catalogue import CatalogueError, catalogue_path, load_catalogue, parse_catalogue
from robofail_ros.config import AuditConfig
from robofail_ros.episode import run_episode
from robofail_ros.perturb import LiveModelPerturber
from robofail_ros.policies import ScriptedExpert
from robofail_ros.sim import SimConfig, Simulation
from test_factors import assert_every_named_perturbation_equals_its_scene
from test_perturb import assert_identical, model_arrays

TASKS = ("PickPlaceCan", "NutAssemblySquare")
OBJECT = {"PickPlaceCan": "Can_main", "NutAssemblySquare": "SquareNut_main"}


@pytest.fixture(scope="module")
def sims():
    built = {task: Simulation(SimConfig(task=task)) for task in TASKS}
    yield built
    for sim in built.values():
        sim.close()


@pytest.fixture(params=TASKS)
def sim(request, sims):
    """One new task's simulation, clean before and after."""
    s = sims[request.param]
    s.set_perturbations([])
    yield s
    s.set_perturbations([])


def test_every_perturbation_alone_and_all_stacked_round_trip_bit_for_bit(sim):
    before = model_arrays(sim.model)
    for name in sim.catalogue.names:
        sim.set_perturbations([name])
        assert sim.active_perturbations == [name]
        sim.set_perturbations([])
        assert_identical(before, model_arrays(sim.model))
    sim.set_perturbations(sim.catalogue.names)
    sim.set_perturbations([])
    assert_identical(before, model_arrays(sim.model))


def test_random_scenes_of_every_factor_clear_bit_for_bit(sim):
    before = model_arrays(sim.model)
    rng = np.random.default_rng(0)
    for _ in range(15):
        scene = sim.space.random_scene(rng)
        sim.set_perturbations([], scene)
        assert sim.active_scene == {n: v for n, v in scene.items() if v != sim.space.get(n).nominal}
        sim.set_perturbations([])
        assert_identical(before, model_arrays(sim.model))
    sim.set_perturbations(sim.catalogue.names[:3], sim.space.random_scene(rng))
    sim.set_perturbations([])
    assert_identical(before, model_arrays(sim.model))
    sim.set_perturbations([], sim.space.scene(sim.space.nominal))
    assert_identical(before, model_arrays(sim.model))


def test_every_named_perturbation_equals_its_scene_in_image_and_physics(sim):
    assert_every_named_perturbation_equals_its_scene(sim)


def test_perturbations_survive_reset(sim):
    sim.set_perturbations(sim.catalogue.names)
    sim.reset(4)
    edited = {k: v for k, v in model_arrays(sim.model).items() if k != "body_pos"}  # robosuite places bodies on reset
    sim.reset(5)
    assert_identical(edited, {k: v for k, v in model_arrays(sim.model).items() if k != "body_pos"})
    assert sim.active_perturbations == sim.catalogue.names


def test_the_nominal_scene_knows_where_the_object_rests_and_where_it_goes(sim):
    sim.reset(2)
    for _ in range(10):
        sim.step(np.zeros(sim.action_dim))
    resting = sim.data.body(OBJECT[sim.config.task]).xpos[2]
    assert resting == pytest.approx(sim.scene.table_height + sim.scene.object_half_height, abs=0.003)
    assert sim.scene.goal is not None and sim.scene.goal.shape == (3,)


def test_the_object_role_is_the_object_the_task_moves(sim):
    body = sim.model.body(OBJECT[sim.config.task]).id
    heavy = next(n for n in sim.catalogue.names if n.endswith("_heavy"))
    mass = sim.model.body_mass[body]
    sim.set_perturbations([heavy])
    assert sim.model.body_mass[body] == pytest.approx(10 * mass)
    paint = sim.perturber._bound[sim.catalogue.names[0]]  # <object>_red
    assert paint.spec.targets == {"role": "object"}
    assert {int(sim.model.geom_bodyid[i]) for i in paint.indices} == {body}
    assert all(sim.model.geom_contype[i] == 0 and sim.model.geom_group[i] == 1 for i in paint.indices)


def test_an_object_colour_recolours_the_object_in_the_image(sim):
    sim.reset(0)
    nominal = sim.render().astype(int)
    sim.set_perturbations([sim.catalogue.names[1]])  # <object>_green
    green = sim.render().astype(int)
    changed = np.abs(green - nominal).sum(axis=2) > 60
    assert 0 < changed.mean() < 0.1, "only the object, a small part of the view, changes"
    assert (green[changed][:, 1] > green[changed][:, 0]).mean() > 0.8  # and it is green


def test_the_thick_peg_is_thicker_for_collisions_as_well_as_to_the_eye(sims):
    sim = sims["NutAssemblySquare"]
    peg = [i for i in range(sim.model.ngeom) if sim.model.geom_bodyid[i] == sim.model.body("peg1").id]
    sim.set_perturbations(["peg_thick"])
    try:
        assert {int(sim.model.geom_contype[i]) for i in peg} == {0, 1}  # the visual and the collision box
        assert sim.model.geom_size[peg].tolist() == [[0.02, 0.02, 0.1]] * 2
    finally:
        sim.set_perturbations([])


def test_a_task_without_a_table_body_says_which_bodies_could_be_the_table(sims):
    data = yaml.safe_load(catalogue_path("PickPlaceCan").read_text())
    del data["roles"]["table"]  # the default would look for robosuite's body 'table', which bins do not have
    with pytest.raises(CatalogueError) as err:
        LiveModelPerturber(sims["PickPlaceCan"].model, parse_catalogue(data, source="no_table.yaml"))
    message = str(err.value)
    assert ("role 'table' (default: bodies ['table']): the model has no body 'table' (define the role under 'roles:' "
            "in the task's catalogue); the model's bodies: world, bin1, bin2,") in message
    assert "free bodies (the task's objects): Milk_main, Bread_main, Cereal_main, Can_main" in message


# -- the scripted expert and an audit ----------------------------------------------------------------------------
#: Perturbations that change only how the scene looks, per task: the privileged expert must not notice them.
VISUAL = {"PickPlaceCan": ["can_green", "table_red", "goal_red", "robot_cyan", "light_blue", "camera_shift_up"],
          "NutAssemblySquare": ["nut_blue", "table_red", "robot_grey", "light_dim", "camera_shift_left"]}


def expert_records(sim, perturbations, seeds):
    expert = ScriptedExpert()
    expert.bind(sim.scene)
    return [run_episode(sim, expert, perturbations, seed) for seed in seeds]


def test_the_expert_succeeds_nominally_within_the_horizon(sim):
    records = expert_records(sim, [], range(10))
    assert sum(r.success for r in records) >= 9, [(r.seed, r.reason) for r in records if not r.success]
    assert max(r.steps for r in records if r.success) < 0.8 * sim.config.horizon  # the horizon has room


def test_visual_perturbations_leave_the_expert_exactly_as_it_was(sim):
    nominal = expert_records(sim, [], range(20, 23))
    looks = expert_records(sim, VISUAL[sim.config.task], range(20, 23))
    assert [(r.outcome, r.steps) for r in looks] == [(r.outcome, r.steps) for r in nominal]


@pytest.mark.parametrize("task", TASKS)
def test_a_small_expert_audit_runs_end_to_end(task, tmp_path):
    config = AuditConfig(sim=SimConfig(task=task), policy="expert", searcher="uniform", episodes=3,
                         control_episodes=1, workers=1)
    result = run_audit(config, tmp_path, film=False)
    assert len(result.records) == 4 and {r.task for r in result.records} == {task}
    assert all(r.outcome in ("success", "failure") for r in result.records)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["control"]["episodes"] == 1
    measured = {p["name"] for p in results["perturbations"]}
    assert measured and measured <= set(load_catalogue(task).names)
    assert sum(p["episodes"] for p in results["perturbations"]) == 3
