"""Perturbations edit the live MuJoCo model: visibly, composably, and exactly reversibly."""
import mujoco
import numpy as np
import pytest

from robofail_ros.catalogue import CatalogueError, parse_catalogue
from robofail_ros.perturb import LiveModelPerturber


def model_arrays(model):
    """Every numeric array of an MjModel, copied: the state a perturbation must restore."""
    out = {}
    for name in dir(model):
        if name.startswith("_"):
            continue
        try:
            value = getattr(model, name)
        except Exception:
            continue
        if isinstance(value, np.ndarray):
            out[name] = value.copy()
    return out


def assert_identical(before, after):
    changed = [k for k in before if not np.array_equal(before[k], after[k], equal_nan=True)]
    assert changed == [], f"model arrays not restored: {changed}"


def test_every_perturbation_alone_and_all_stacked_round_trip_bit_for_bit(clean_lift_sim):
    sim = clean_lift_sim
    before = model_arrays(sim.model)
    for name in sim.catalogue.names:
        sim.set_perturbations([name])
        sim.set_perturbations([])
        assert_identical(before, model_arrays(sim.model))
    sim.set_perturbations(sim.catalogue.names)  # all 27 at once
    assert sim.active_perturbations == sim.catalogue.names
    sim.set_perturbations([])
    assert_identical(before, model_arrays(sim.model))


def test_perturbations_stack_and_each_touches_what_it_names(clean_lift_sim):
    sim = clean_lift_sim
    table = sim.model.geom("table_visual").id
    light_before = sim.model.light_diffuse[0].copy()
    sim.set_perturbations(["table_red", "light_dim"])
    assert sim.model.geom_rgba[table].tolist() == pytest.approx([0.85, 0.1, 0.1, 1.0])
    assert sim.model.geom_matid[table] == -1  # else the wood texture tints the new colour
    assert sim.model.light_diffuse[0] == pytest.approx(light_before * 0.3)
    cube = sim.model.body("cube_main").id
    mass = sim.model.body_mass[cube]
    sim.set_perturbations(["cube_heavy"])
    assert sim.model.body_mass[cube] == pytest.approx(10 * mass)


def test_a_colour_perturbation_visibly_changes_the_image_and_clearing_restores_it(clean_lift_sim):
    sim = clean_lift_sim
    sim.reset(0)
    nominal = sim.render().astype(int)
    sim.set_perturbations(["table_red"])
    red = sim.render().astype(int)
    changed = np.abs(red - nominal).sum(axis=2) > 60
    assert changed.mean() > 0.3, "a red table should recolour a large part of the agentview image"
    assert red[70, 42, 0] > 150 and red[70, 42, 1] < 80  # the table in front of the robot is red
    sim.set_perturbations([])
    assert np.array_equal(sim.render().astype(int), nominal)


@pytest.mark.parametrize("name, half_height", [("cube_size_large", 0.04), ("cube_size_small", 0.01),
                                                ("cube_size_bar", 0.01)])
def test_resized_cube_rests_on_the_table_with_consistent_collision_bounds(clean_lift_sim, name, half_height):
    sim = clean_lift_sim
    sim.set_perturbations([name])
    sim.reset(1)
    for _ in range(20):
        sim.step(np.zeros(sim.action_dim))
    cube_z = sim.data.body("cube_main").xpos[2]
    table_top = sim.scene.table_height
    assert cube_z == pytest.approx(table_top + half_height, abs=0.004)
    col, vis = sim.model.geom("cube_g0").id, sim.model.geom("cube_g0_vis").id
    assert np.array_equal(sim.model.geom_size[col], sim.model.geom_size[vis])
    assert sim.model.geom_rbound[col] == pytest.approx(np.linalg.norm(sim.model.geom_size[col]))
    assert np.array_equal(sim.model.geom_aabb[col, 3:], sim.model.geom_size[col])


def test_perturbations_survive_reset(clean_lift_sim):
    sim = clean_lift_sim
    sim.set_perturbations(["table_blue"])
    sim.reset(5)
    assert sim.model.geom_matid[sim.model.geom("table_visual").id] == -1


def test_unknown_names_change_nothing(clean_lift_sim):
    sim = clean_lift_sim
    sim.set_perturbations(["table_red"])
    with pytest.raises(CatalogueError, match="unknown perturbation 'table_pink'"):
        sim.set_perturbations(["table_green", "table_pink"])
    assert sim.active_perturbations == ["table_red"]


def test_catalogue_targets_are_checked_against_the_model(lift_sim):
    bad = parse_catalogue({"task": "Lift", "perturbations": [
        {"name": "paint", "kind": "geom_rgba", "targets": {"geoms": ["tabel_visual"]}, "rgba": [1, 0, 0, 1]}]},
        source="typo.yaml")
    with pytest.raises(CatalogueError, match="unknown geom 'tabel_visual' \\(did you mean table_visual"):
        LiveModelPerturber(lift_sim.model, bad)
    mesh = parse_catalogue({"task": "Lift", "perturbations": [
        {"name": "grow", "kind": "geom_size", "targets": {"geoms": ["robot0_g0_vis"]}, "size": [1, 1, 1]}]})
    with pytest.raises(CatalogueError, match="not a box, sphere, capsule or cylinder"):
        LiveModelPerturber(lift_sim.model, mesh)


def test_live_edit_leaves_the_simulation_state_alone(clean_lift_sim):
    sim = clean_lift_sim
    sim.reset(2)
    qpos = sim.data.qpos.copy()
    sim.set_perturbations(["cube_heavy", "camera_shift_up"])  # mass edits call mj_setConst on scratch data
    assert np.array_equal(sim.data.qpos, qpos)
    assert mujoco.mj_name2id(sim.model, mujoco.mjtObj.mjOBJ_CAMERA, "agentview") >= 0
