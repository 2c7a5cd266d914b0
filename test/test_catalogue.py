"""The perturbation catalogue is data: validated on load, with errors that say what is wrong and what is accepted."""
import pytest
import yaml

from robofail_ros.catalogue import CatalogueError, load_catalogue, parse_catalogue

REFERENCE_LIFT = [  # the reference implementation's 21 Lift perturbations
    "cube_red", "cube_green", "cube_blue", "cube_grey",
    "table_green", "table_blue", "table_red", "table_grey",
    "table_size_08x02", "table_size_02x08",
    "cube_size_large", "cube_size_small", "cube_size_bar",
    "robot_red", "robot_green", "robot_cyan", "robot_grey",
    "light_red", "light_green", "light_blue", "light_grey",
]


def minimal(**overrides):
    entry = {"name": "table_red", "kind": "geom_rgba", "targets": {"geoms": ["table_visual"]}, "rgba": [1, 0, 0, 1]}
    entry.update(overrides)
    return {"task": "Lift", "perturbations": [entry]}


def test_lift_offers_the_reference_21_plus_light_camera_mass_and_friction():
    cat = load_catalogue("Lift")
    assert set(REFERENCE_LIFT) <= set(cat.names)
    kinds = {p.kind for p in cat.perturbations}
    assert {"light_intensity", "camera_pose", "body_mass", "geom_friction"} <= kinds


def test_stack_catalogue_loads_and_task_lookup_is_case_insensitive():
    assert load_catalogue("stack").task == "Stack"
    assert load_catalogue("Lift").names == load_catalogue("lift").names


def test_unknown_task_names_the_known_ones():
    with pytest.raises(CatalogueError, match="unknown task .Pour.*known: lift, nutassemblysquare, pickplacecan, stack"):
        load_catalogue("Pour")


def test_unknown_perturbation_suggests_close_names_and_lists_all():
    cat = load_catalogue("Lift")
    with pytest.raises(CatalogueError) as err:
        cat.get("table_pink")
    assert "table_pink" in str(err.value) and "table_red" in str(err.value) and "known:" in str(err.value)


@pytest.mark.parametrize("overrides, message", [
    ({"kind": "geom_paint"}, "unknown kind 'geom_paint'"),
    ({"rgba": [1, 0, 0]}, "'rgba' must be 4 numbers in \\[0, 1\\]"),
    ({"rgba": [2, 0, 0, 1]}, "'rgba' must be 4 numbers"),
    ({"rgba": "red"}, "'rgba' must be"),
    ({"name": "table red"}, "'name' must be letters, digits and underscores"),
    ({"targets": {"cameras": ["agentview"]}}, "selects its targets with geoms or geom_pattern"),
    ({"targets": {"geom_pattern": "("}}, "geom_pattern must be a regular expression"),
    ({"colour": "red"}, "unknown key\\(s\\) \\['colour'\\]"),
    ({"rest_on_table": True}, "only meaningful for geom_size"),
])
def test_malformed_entries_are_rejected_with_the_entry_named(overrides, message):
    with pytest.raises(CatalogueError, match=message) as err:
        parse_catalogue(minimal(**overrides), source="mine.yaml")
    assert "mine.yaml: perturbation #0" in str(err.value)


def test_missing_parameter_and_duplicate_names_are_rejected():
    data = minimal()
    del data["perturbations"][0]["rgba"]
    with pytest.raises(CatalogueError, match="needs 'rgba'"):
        parse_catalogue(data)
    data = minimal()
    data["perturbations"].append(dict(data["perturbations"][0]))
    with pytest.raises(CatalogueError, match="duplicate name 'table_red'"):
        parse_catalogue(data)


def test_scale_must_be_positive_and_finite():
    bad = {"task": "Lift", "perturbations": [
        {"name": "dim", "kind": "light_intensity", "targets": {"lights": [0]}, "scale": -1}]}
    with pytest.raises(CatalogueError, match="'scale' must be a number in \\(0, 1000\\]"):
        parse_catalogue(bad)
    for value in (float("nan"), 1e300, 0):
        bad["perturbations"][0]["scale"] = value
        with pytest.raises(CatalogueError, match="'scale'"):
            parse_catalogue(bad)


def test_malformed_yaml_file_is_reported_with_its_path(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("task: Lift\nperturbations: [\n  - name: x\n")
    with pytest.raises(CatalogueError, match="broken.yaml: not valid YAML"):
        load_catalogue(path)


def test_top_level_shape_is_checked(tmp_path):
    with pytest.raises(CatalogueError, match="top level must be a mapping"):
        parse_catalogue(["a", "b"])
    with pytest.raises(CatalogueError, match="'perturbations' must be a non-empty list"):
        parse_catalogue({"task": "Lift", "perturbations": []})
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump(minimal()))
    assert load_catalogue(path).names == ["table_red"]
