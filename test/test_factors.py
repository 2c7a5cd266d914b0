"""The continuous scene space on the real models: scenes edit the live model exactly, reversibly, like the named
perturbations they generalise, and every factor changes what it names; bad factor definitions are refused."""
import colorsys
import copy

import mujoco
import numpy as np
import pytest
import yaml

from robofail_ros.catalogue import CatalogueError, catalogue_path, parse_catalogue
from robofail_ros.factors import parse_factors
from robofail_ros.perturb import LiveModelPerturber
from robofail_ros.sim import SimConfig, Simulation
from test_perturb import assert_identical, model_arrays

#: A fixed arm action (move and close the gripper) so a few steps exercise contacts and the controller.
ACTION = np.array([0.3, -0.2, -0.5, 0.0, 0.0, 0.0, 1.0])


@pytest.fixture(scope="module")
def stack_sim():
    sim = Simulation(SimConfig(task="Stack"))
    yield sim
    sim.close()


@pytest.fixture
def sims(request, clean_lift_sim):
    """The Lift or Stack simulation, clean before and after."""
    sim = clean_lift_sim if request.param == "Lift" else request.getfixturevalue("stack_sim")
    sim.set_perturbations([])
    yield sim
    sim.set_perturbations([])


def rollout(sim, seed: int, steps: int = 5):
    """The first frame from `seed` and the joint positions over a few steps of a fixed action."""
    sim.reset(seed)
    image = sim.render()
    qpos = []
    for _ in range(steps):
        sim.step(ACTION)
        qpos.append(sim.data.qpos.copy())
    return image, qpos


# -- exactness ---------------------------------------------------------------------------------------------------
def test_random_scenes_of_every_factor_clear_bit_for_bit(clean_lift_sim):
    sim = clean_lift_sim
    before = model_arrays(sim.model)
    rng = np.random.default_rng(0)
    for _ in range(25):
        scene = sim.space.random_scene(rng)
        sim.set_perturbations([], scene)
        assert sim.active_scene == {n: v for n, v in scene.items() if v != sim.space.get(n).nominal}
        sim.set_perturbations([])
        assert_identical(before, model_arrays(sim.model))
    sim.set_perturbations(["table_red", "cube_heavy"], sim.space.random_scene(rng))  # a scene under named ones
    sim.set_perturbations([])
    assert_identical(before, model_arrays(sim.model))


def test_a_scene_at_the_nominal_values_leaves_the_model_untouched(clean_lift_sim):
    sim = clean_lift_sim
    before = model_arrays(sim.model)
    sim.set_perturbations([], sim.space.scene(sim.space.nominal))
    assert sim.active_scene == {}
    assert_identical(before, model_arrays(sim.model))


def assert_every_named_perturbation_equals_its_scene(sim) -> None:
    """Each named perturbation and its point of the factor space give the same images and qpos over a rollout."""
    for name in sim.catalogue.names:
        scene = sim.perturber.scene_of(name)
        assert scene, f"{name} has an empty scene"
        sim.set_perturbations([name])
        named_image, named_qpos = rollout(sim, seed=3)
        sim.set_perturbations([], scene)
        scene_image, scene_qpos = rollout(sim, seed=3)
        assert np.array_equal(named_image, scene_image), f"{name}: the scene renders differently"
        assert all(np.array_equal(a, b) for a, b in zip(named_qpos, scene_qpos)), f"{name}: the scene moves differently"


@pytest.mark.parametrize("sims", ["Lift", "Stack"], indirect=True)
def test_every_named_perturbation_equals_its_scene_in_image_and_physics(sims):
    assert_every_named_perturbation_equals_its_scene(sims)


def test_a_scene_survives_reset(clean_lift_sim):
    sim = clean_lift_sim
    scene = sim.space.random_scene(np.random.default_rng(7))
    sim.set_perturbations([], scene)
    edited = model_arrays(sim.model)
    first, _ = rollout(sim, seed=11, steps=1)
    sim.reset(12)
    again, _ = rollout(sim, seed=11, steps=1)
    assert_identical(edited, model_arrays(sim.model))
    assert np.array_equal(first, again)
    assert sim.active_scene == {n: v for n, v in scene.items() if v != sim.space.get(n).nominal}


# -- each kind changes what it names -----------------------------------------------------------------------------
def _mean_rgb(image: np.ndarray) -> np.ndarray:
    return image.reshape(-1, 3).astype(float).mean(axis=0)


def test_geom_colour_paints_the_table_the_hsv_colour_asked_for(clean_lift_sim):
    sim = clean_lift_sim
    sim.reset(0)
    table = sim.model.geom("table_visual").id
    sim.set_perturbations([], {"table_hue": 1 / 3, "table_saturation": 1.0, "table_value": 0.8})
    assert sim.model.geom_rgba[table, :3] == pytest.approx(colorsys.hsv_to_rgb(1 / 3, 1.0, 0.8))
    assert sim.model.geom_matid[table] == -1  # else the wood texture tints the colour
    pixel = sim.render()[70, 42].astype(int)  # the table in front of the robot
    assert pixel[1] > 100 and pixel[1] > 2 * max(pixel[0], pixel[2])


def test_light_colour_tints_the_whole_image(clean_lift_sim):
    sim = clean_lift_sim
    sim.reset(0)
    nominal = _mean_rgb(sim.render())
    sim.set_perturbations([], {"light_hue": 2 / 3, "light_saturation": 1.0})
    blue = _mean_rgb(sim.render())
    assert sim.model.light_diffuse[0, 2] > 0 and sim.model.light_diffuse[0, :2] == pytest.approx([0, 0])
    assert blue[2] - blue[0] > nominal[2] - nominal[0] + 10


def test_light_intensity_darkens_and_brightens_the_image(clean_lift_sim):
    sim = clean_lift_sim
    sim.reset(0)
    nominal = _mean_rgb(sim.render()).mean()
    sim.set_perturbations([], {"light_intensity": 0.1})
    dim = _mean_rgb(sim.render()).mean()
    sim.set_perturbations([], {"light_intensity": 3.0})
    bright = _mean_rgb(sim.render()).mean()
    assert dim < 0.75 * nominal and bright > nominal + 5  # the nominal image is already bright: it saturates


def test_camera_position_moves_the_camera_by_the_offset(clean_lift_sim):
    sim = clean_lift_sim
    cam = sim.model.camera("agentview").id
    before = sim.data.cam_xpos[cam].copy()
    sim.set_perturbations([], {"camera_z": 0.1, "camera_x": -0.05})
    assert sim.data.cam_xpos[cam] - before == pytest.approx([-0.05, 0.0, 0.1], abs=1e-9)


@pytest.mark.parametrize("factor, axis", [("camera_yaw", 1), ("camera_pitch", 0)])
def test_camera_orientation_turns_the_view_by_the_angle_about_the_cameras_own_axis(clean_lift_sim, factor, axis):
    sim = clean_lift_sim
    cam = sim.model.camera("agentview").id
    before = sim.data.cam_xmat[cam].reshape(3, 3).copy()
    sim.set_perturbations([], {factor: 12.0})
    after = sim.data.cam_xmat[cam].reshape(3, 3)
    view_before, view_after = -before[:, 2], -after[:, 2]  # MuJoCo cameras look along their -z axis
    assert np.degrees(np.arccos(np.clip(view_before @ view_after, -1, 1))) == pytest.approx(12.0, abs=1e-6)
    assert after[:, axis] == pytest.approx(before[:, axis], abs=1e-9)  # turned about that axis, which stays put


def test_geom_size_resizes_the_cube_and_it_rests_on_the_table(clean_lift_sim):
    sim = clean_lift_sim
    col = sim.model.geom("cube_g0").id
    y = float(sim.model.geom_size[col, 1])
    sim.set_perturbations([], {"cube_size_z": 0.035, "cube_size_x": 0.03})
    sim.reset(1)
    for _ in range(20):
        sim.step(np.zeros(sim.action_dim))
    assert sim.model.geom_size[col].tolist() == [0.03, y, 0.035]  # the axis not named keeps the model's size
    assert sim.model.geom_rbound[col] == pytest.approx(np.linalg.norm(sim.model.geom_size[col]))
    assert sim.data.body("cube_main").xpos[2] == pytest.approx(sim.scene.table_height + 0.035, abs=0.004)


def test_body_mass_scales_the_weight_the_physics_feels(clean_lift_sim):
    sim = clean_lift_sim
    dof = sim.model.jnt_dofadr[sim.model.body_jntadr[sim.model.body("cube_main").id]] + 2  # the free joint's z
    sim.reset(0)
    weight = sim.data.qfrc_bias[dof]
    sim.set_perturbations([], {"cube_mass": 30.0})
    sim.reset(0)
    assert sim.data.qfrc_bias[dof] == pytest.approx(30.0 * weight, rel=1e-6)


def test_geom_friction_sets_the_friction_of_the_cubes_contacts(clean_lift_sim):
    sim = clean_lift_sim
    cube = sim.model.geom("cube_g0").id

    def contact_friction() -> float:
        sim.reset(0)
        sim.step(np.zeros(sim.action_dim))
        frictions = [sim.data.contact[i].friction[0] for i in range(sim.data.ncon)
                     if cube in (sim.data.contact[i].geom1, sim.data.contact[i].geom2)]
        assert frictions, "the cube should touch the table"
        return max(frictions)

    nominal = contact_friction()
    sim.set_perturbations([], {"cube_friction": 3.0})
    assert contact_friction() == pytest.approx(3.0 * sim.perturber._original("geom_friction")[cube, 0])
    assert contact_friction() > nominal


# -- bad definitions ---------------------------------------------------------------------------------------------
GOOD = {"name": "lamp", "kind": "light_intensity", "targets": {"lights": [0]}, "low": 0.1, "high": 3.0,
        "nominal": 1.0, "scale": "log"}


@pytest.mark.parametrize("change, message", [
    ({"name": "tilt", "kind": "camera_orientation", "axis": "yaw", "targets": {"cameras": ["agentview"]},
      "low": -120.0, "high": 10.0, "nominal": 0.0, "scale": "linear"},
     r"range \[-120, 10\] is outside what kind camera_orientation allows, \[-90, 90\]"),
    ({"name": "shift", "kind": "camera_position", "axis": "x", "targets": {"cameras": ["agentview"]},
      "low": -0.1, "high": 0.1, "nominal": 0.0, "scale": "log"}, "a log scale needs positive bounds, got low = -0.1"),
    ({"nominal": 5.0}, r"nominal value 5 is outside its range \[0.1, 3\]"),
    ({"kind": "light_flicker"}, "unknown factor kind 'light_flicker'"),
    ({"name": "tint", "kind": "geom_colour", "channel": "chroma", "targets": {"geoms": ["table_visual"]},
      "low": 0.0, "high": 1.0, "nominal": 0.5, "scale": "linear"},
     "kind geom_colour needs 'channel' to be one of hue, saturation, value, got 'chroma'"),
    ({"low": 3.0, "high": 0.1}, r"'low' \(3\) must be below 'high' \(0.1\)"),
])
def test_a_bad_factor_is_refused_with_its_name_and_what_is_accepted(change, message):
    entry = {**GOOD, **change}
    with pytest.raises(CatalogueError, match=message) as err:
        parse_factors("Lift", [entry], source="bad.yaml")
    assert f"({entry['name']})" in str(err.value) and str(err.value).count("\n") == 0


def test_an_incomplete_colour_is_refused_naming_its_factors():
    colour = [{"name": f"table_{c}", "kind": "geom_colour", "channel": c, "targets": {"geoms": ["table_visual"]},
               "low": 0.0, "high": 1.0, "nominal": 0.5} for c in ("hue", "saturation")]
    with pytest.raises(CatalogueError, match="table_hue, table_saturation share targets but have channels "
                                             r"\['hue', 'saturation'\]; a colour needs exactly one hue"):
        parse_factors("Lift", colour, source="bad.yaml")


def test_a_bad_factor_fails_the_whole_catalogue_load():
    data = yaml.safe_load(catalogue_path("Lift").read_text())
    data["factors"][0]["nominal"] = 2.0
    with pytest.raises(CatalogueError, match=r"factor #0 \(table_hue\): nominal value 2 is outside"):
        parse_catalogue(data, source="edited.yaml")


@pytest.mark.parametrize("targets, message", [
    ({"geoms": ["cube_g0_vsi"]}, "unknown geom 'cube_g0_vsi' \\(did you mean cube_g0_vis"),
    ({"geom_pattern": "^nothing_here$"}, "geom_pattern '\\^nothing_here\\$' matches no geom"),
])
def test_a_factor_whose_target_the_model_lacks_is_refused_on_binding(lift_sim, targets, message):
    data = yaml.safe_load(catalogue_path("Lift").read_text())
    factors = copy.deepcopy(data["factors"])
    for f in factors:
        if f["group"] == "cube_colour":
            f["targets"] = targets
    space = parse_factors("Lift", factors, source="typo.yaml")
    with pytest.raises(CatalogueError, match="factor 'cube_hue' \\(typo.yaml\\): " + message):
        LiveModelPerturber(lift_sim.model, lift_sim.catalogue, space)


def test_a_size_factor_on_a_mesh_is_refused_on_binding(lift_sim):
    space = parse_factors("Lift", [{"name": "grow", "kind": "geom_size", "axis": "x",
                                    "targets": {"geoms": ["robot0_g0_vis"]}, "low": 0.01, "high": 0.5,
                                    "nominal": 0.1}], source="mesh.yaml")
    with pytest.raises(CatalogueError, match="factor 'grow'.*is not a box"):
        LiveModelPerturber(lift_sim.model, lift_sim.catalogue, space)


def test_an_out_of_range_scene_changes_nothing(clean_lift_sim):
    sim = clean_lift_sim
    sim.set_perturbations([], {"light_intensity": 0.5})
    before = model_arrays(sim.model)
    with pytest.raises(CatalogueError, match=r"factor 'camera_yaw': value 40.0 is outside its range \[-15, 15\] deg"):
        sim.set_perturbations([], {"light_intensity": 2.0, "camera_yaw": 40.0})
    assert_identical(before, model_arrays(sim.model))
    assert mujoco.mj_name2id(sim.model, mujoco.mjtObj.mjOBJ_CAMERA, "agentview") >= 0
