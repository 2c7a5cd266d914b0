"""PickPlaceCan and NutAssemblySquare on the real simulator: their role-written catalogues bind to the task's parts,
every perturbation and every factor applies and clears bit for bit, and a named perturbation edits the model as its
scene does (issue 14, items 1, 3 and 6)."""
import numpy as np
import pytest
import yaml

from robofail_ros.catalogue import CatalogueError, catalogue_path, parse_catalogue
from robofail_ros.perturb import LiveModelPerturber
from robofail_ros.sim import SimConfig, Simulation
from test_factors import rollout
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
    for name in sim.catalogue.names:
        scene = sim.perturber.scene_of(name)
        assert scene, f"{name} has an empty scene"
        sim.set_perturbations([name])
        named_image, named_qpos = rollout(sim, seed=3)
        sim.set_perturbations([], scene)
        scene_image, scene_qpos = rollout(sim, seed=3)
        assert np.array_equal(named_image, scene_image), f"{name}: the scene renders differently"
        assert all(np.array_equal(a, b) for a, b in zip(named_qpos, scene_qpos)), f"{name}: the scene moves differently"


def test_perturbations_survive_reset(sim):
    sim.set_perturbations(sim.catalogue.names)
    sim.reset(4)
    edited = {k: v for k, v in model_arrays(sim.model).items() if k != "body_pos"}  # robosuite places bodies on reset
    sim.reset(5)
    assert_identical(edited, {k: v for k, v in model_arrays(sim.model).items() if k != "body_pos"})
    assert sim.active_perturbations == sim.catalogue.names


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
