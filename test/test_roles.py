"""Role binding: targets named by their part in the task bind like the geom names they replace, Lift and Stack bind
exactly as before roles existed, and a bad or missing role is refused naming what would be accepted."""
import json
from pathlib import Path

import mujoco
import pytest
import yaml

from robofail_ros.catalogue import CatalogueError, catalogue_path, parse_catalogue
from robofail_ros.factors import parse_factors
from robofail_ros.perturb import LiveModelPerturber
from robofail_ros.roles import parse_roles
from robofail_ros.sim import SimConfig, Simulation

#: What every Lift and Stack perturbation and factor bound to (element names, '#i' for unnamed) before role binding.
RECORDED = json.loads((Path(__file__).parent / "data" / "lift_stack_targets.json").read_text())

_OBJ = {"geom": mujoco.mjtObj.mjOBJ_GEOM, "body": mujoco.mjtObj.mjOBJ_BODY, "light": mujoco.mjtObj.mjOBJ_LIGHT,
        "camera": mujoco.mjtObj.mjOBJ_CAMERA}
_ELEMENT = {"geom_rgba": "geom", "geom_size": "geom", "geom_friction": "geom", "geom_colour": "geom",
            "light_diffuse": "light", "light_intensity": "light", "light_colour": "light",
            "camera_pose": "camera", "camera_position": "camera", "camera_orientation": "camera", "body_mass": "body"}


def bound_names(model, bound) -> dict[str, list[str]]:
    """{perturbation or factor: the names of the elements it binds to}, as RECORDED writes them."""
    return {name: [mujoco.mj_id2name(model, _OBJ[_ELEMENT[b.spec.kind]], i) or f"#{i}" for i in b.indices]
            for name, b in bound.items()}


@pytest.fixture(scope="module")
def stack_model():
    sim = Simulation(SimConfig(task="Stack"))
    yield sim
    sim.close()


@pytest.mark.parametrize("task", ["Lift", "Stack"])
def test_lift_and_stack_bind_exactly_the_targets_they_bound_before_roles(task, lift_sim, request):
    sim = lift_sim if task == "Lift" else request.getfixturevalue("stack_model")
    data = yaml.safe_load(catalogue_path(task).read_text())
    assert "roles" not in data  # their catalogues keep the geom names they were written with
    assert bound_names(sim.model, sim.perturber._bound) == RECORDED[task]["perturbations"]
    assert bound_names(sim.model, sim.perturber._factors) == RECORDED[task]["factors"]


def _lift_with_roles() -> dict:
    """Lift's catalogue with every target replaced by the role it plays (object = the cube)."""
    data = yaml.safe_load(catalogue_path("Lift").read_text())
    data["roles"] = {"object": {"bodies": ["cube_main"]}}
    role_of_group = {"cube": "object", "table": "table", "robot": "robot", "light": "lights", "camera": "camera"}
    for entry in data["perturbations"] + data["factors"]:
        entry["targets"] = {"role": role_of_group[entry["group"].split("_")[0]]}
    return data


def test_lift_written_with_roles_binds_like_its_geom_names(lift_sim):
    cat = parse_catalogue(_lift_with_roles(), source="lift_roles.yaml")
    space = parse_factors("Lift", _lift_with_roles()["factors"], source="lift_roles.yaml", roles=cat.roles)
    perturber = LiveModelPerturber(lift_sim.model, cat, space)
    legs = [f"table_leg{i}_visual" for i in range(1, 5)]
    for bound, recorded in ((perturber._bound, RECORDED["Lift"]["perturbations"]),
                            (perturber._factors, RECORDED["Lift"]["factors"])):
        for name, targets in bound_names(lift_sim.model, bound).items():
            if recorded[name] == ["table_visual"]:  # the table role is the whole table: its legs are painted too
                assert targets == ["table_visual", *legs], name
            else:
                assert targets == recorded[name], name


@pytest.mark.parametrize("targets, message", [
    ({"role": "bin"}, r"unknown role 'bin'; known: camera, lights, object, robot, table \(define it under 'roles:'\)"),
    ({"role": "lights"}, r"kind geom_rgba needs a role of bodies, and role 'lights' \(default: lights 'all'\) names "
                         "lights"),
    ({"role": "table", "geoms": ["table_visual"]}, "targets.role names the whole target and takes no other selector"),
    ({"role": ["table"]}, r"unknown role \['table'\] \(did you mean table\?\); known: camera, lights, object, robot"),
])
def test_a_bad_role_target_is_refused_on_load_naming_what_is_accepted(targets, message):
    data = {"task": "Lift", "roles": {"object": "cube_main"},
            "perturbations": [{"name": "paint", "kind": "geom_rgba", "targets": targets, "rgba": [1, 0, 0, 1]}]}
    with pytest.raises(CatalogueError, match=message) as err:
        parse_catalogue(data, source="mine.yaml")
    assert "mine.yaml: perturbation #0 (paint)" in str(err.value)


@pytest.mark.parametrize("roles, message", [
    ({"object": {"bodies": "cube_main"}}, "role 'object': bodies must be a non-empty list of names"),
    ({"object": {"bodies": ["cube_main"], "lights": [0]}}, "role 'object': needs exactly one of bodies, body_pattern"),
    ({"object": {"body_pattern": "("}}, "body_pattern must be a regular expression"),
    ({"the object": "cube_main"}, "role name 'the object' must be letters, digits and underscores"),
    ([], "'roles' must be a mapping of role name to a definition"),
])
def test_a_malformed_role_is_refused(roles, message):
    with pytest.raises(CatalogueError, match=message):
        parse_roles(roles, "mine.yaml")


def test_a_role_whose_bodies_the_model_lacks_lists_what_the_model_has(lift_sim):
    data = {"task": "Lift", "roles": {"object": {"bodies": ["Can_main"]}},
            "perturbations": [{"name": "paint", "kind": "geom_rgba", "targets": {"role": "object"},
                               "rgba": [1, 0, 0, 1]}]}
    with pytest.raises(CatalogueError) as err:
        LiveModelPerturber(lift_sim.model, parse_catalogue(data, source="can.yaml"))
    message = str(err.value)
    assert message.startswith("perturbation 'paint' (can.yaml): role 'object' (defined: bodies ['Can_main']): "
                              "the model has no body 'Can_main'; the model's bodies: world, ")
    for offered in ("table", "cube_main", "free bodies (the task's objects): cube_main", "cameras: frontview",
                    "agentview", "robot bodies robot0_*/gripper0_*"):
        assert offered in message


def test_a_role_without_the_geoms_a_kind_edits_is_refused(lift_sim):
    # robosuite's controller target marker: geoms in group 2 that neither collide nor render (only group 1 renders)
    data = {"task": "Lift", "roles": {"marker": ["right_eef_target"]},
            "perturbations": [{"name": "paint", "kind": "geom_rgba", "targets": {"role": "marker"},
                               "rgba": [1, 0, 0, 1]}]}
    with pytest.raises(CatalogueError, match=r"role 'marker' \(defined: bodies \['right_eef_target'\]\): its bodies "
                                             r"have no visual geoms \(group 1, no collisions\) for kind geom_rgba "
                                             r"\(2 geoms in all\)"):
        LiveModelPerturber(lift_sim.model, parse_catalogue(data, source="marker.yaml"))


def test_a_camera_edit_through_a_body_role_is_refused_naming_both():
    data = {"task": "Lift", "roles": {"object": "cube_main"},
            "perturbations": [{"name": "shift", "kind": "camera_pose", "targets": {"role": "object"},
                               "offset": [0, 0, 0.1]}]}
    with pytest.raises(CatalogueError, match=r"kind camera_pose needs a role of cameras, and role 'object' "
                                             r"\(defined: bodies \['cube_main'\]\) names bodies"):
        parse_catalogue(data, source="mine.yaml")


def test_a_factor_space_built_without_its_roles_is_refused_on_binding_not_with_a_key_error(lift_sim):
    space = parse_factors("Lift", [{"name": "heft", "kind": "body_mass", "targets": {"role": "object"}, "low": 0.5,
                                    "high": 2.0, "nominal": 1.0}], source="can.yaml", roles=parse_roles(
        {"object": "cube_main"}, "can.yaml"))
    bare = type(space)(task=space.task, factors=space.factors, source=space.source)  # as code may build one
    assert LiveModelPerturber(lift_sim.model, lift_sim.catalogue, space)._factors["heft"].indices == (
        lift_sim.model.body("cube_main").id,)
    with pytest.raises(CatalogueError, match=r"factor 'heft' \(can.yaml\): unknown role 'object'; known: camera"):
        LiveModelPerturber(lift_sim.model, lift_sim.catalogue, bare)
