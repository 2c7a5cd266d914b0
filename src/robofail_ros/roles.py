"""Roles: perturbation and factor targets named by their part in the task, not by the model's element names.

robosuite names geoms differently in every task and leaves many unnamed (PickPlace's bins, NutAssembly's pegs),
so a catalogue written with geom names has to be rewritten, name by name, for each new task. A role is defined once
per task by bodies (or lights, or cameras), and the kind of edit picks which of the role's elements it touches:
a colour the geoms the cameras see, friction the geoms that collide, a size the box geoms, a mass the bodies.
The parts robosuite builds the same way in every task (the robot, the table, the lights, the agent camera) have
default roles, so a new task's YAML names little more than its objects:

    roles:
      object: {bodies: [Can_main]}
      table: {bodies: [bin1, bin2]}

Targets then read `targets: {role: object}`. Explicit selectors (`geoms`, `geom_pattern`, ...) keep working and
bind exactly as before. Role names are checked when the YAML is read; that the model has the role's bodies is
checked when a perturber binds to a model, and the error lists what the model has.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

import mujoco
import numpy as np

from robofail_ros.catalogue import CatalogueError, unknown_name_message

_OBJ = mujoco.mjtObj

#: The geom group robosuite puts visual geoms in, and the only one the simulation renders (sim.Simulation).
VISUAL_GROUP = 1

#: Roles every task has unless its YAML redefines them: robosuite names these parts the same way in every task.
DEFAULT_ROLES: dict[str, dict[str, Any]] = {
    "robot": {"body_pattern": r"^(robot0|gripper0)_",
              "description": "arm and gripper of robot 0 (robosuite prefixes their bodies robot0_ and gripper0_)"},
    "table": {"bodies": ["table"], "description": "the table the task is set on (robosuite's TableArena body)"},
    "lights": {"lights": "all", "description": "every light of the model"},
    "camera": {"cameras": ["agentview"], "description": "the camera the adversary and vision policies observe"},
}

#: What each role definition may name; exactly one of them per role.
ROLE_SELECTORS = ("bodies", "body_pattern", "lights", "cameras")

#: The model element a role of each selector stands for.
_ELEMENT = {"bodies": "body", "body_pattern": "body", "lights": "light", "cameras": "camera"}

_PLURAL = {"body": "bodies", "light": "lights", "camera": "cameras"}

#: The elements each edit kind acts on: body roles serve the geom kinds (through their geoms) and mass.
KIND_ELEMENT = {
    "geom_rgba": "body", "geom_size": "body", "geom_friction": "body", "body_mass": "body",
    "light_diffuse": "light", "light_intensity": "light", "camera_pose": "camera",
}

#: Which of a body role's geoms each geom kind touches, in words for errors and docs.
GEOM_PART = {"geom_rgba": "visual geoms (group 1, no collisions)", "geom_friction": "collision geoms",
             "geom_size": "box geoms"}


@dataclass(frozen=True)
class Role:
    """One named part of a task: bodies (by name or pattern), lights or cameras."""

    name: str
    selector: str
    value: Any
    """Names (a tuple), a regular expression (body_pattern) or 'all' / a tuple of names or indices (lights)."""
    description: str = ""
    default: bool = False
    """True when the role comes from DEFAULT_ROLES rather than the task's YAML."""

    @property
    def element(self) -> str:
        return _ELEMENT[self.selector]

    def describe(self) -> str:
        """The definition as the YAML would say it, for error messages."""
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        origin = "default" if self.default else "defined"
        return f"role {self.name!r} ({origin}: {self.selector} {value!r})"


def parse_roles(data: Any, source: str) -> dict[str, Role]:
    """The default roles overridden and extended by a catalogue's `roles:` mapping (None: defaults only)."""
    roles = {name: _parse_role(name, spec, source, default=True) for name, spec in DEFAULT_ROLES.items()}
    if data is None:
        return roles
    if not isinstance(data, dict) or not data:
        raise CatalogueError(f"{source}: 'roles' must be a mapping of role name to a definition such as "
                             "{bodies: [Can_main]}")
    for name, spec in data.items():
        if not isinstance(name, str) or not name.isidentifier() or not name.isascii():
            raise CatalogueError(f"{source}: role name {name!r} must be letters, digits and underscores")
        roles[name] = _parse_role(name, spec, source, default=False)
    return roles


def _parse_role(name: str, spec: Any, source: str, default: bool) -> Role:
    where = f"{source}: role {name!r}"
    if isinstance(spec, (str, list)):  # shorthand: `object: Can_main` or `table: [bin1, bin2]`
        spec = {"bodies": [spec] if isinstance(spec, str) else spec}
    if not isinstance(spec, dict):
        raise CatalogueError(f"{where}: must be body names or a mapping with one of {', '.join(ROLE_SELECTORS)}, "
                             f"got {spec!r}")
    extra = set(spec) - set(ROLE_SELECTORS) - {"description"}
    chosen = [k for k in ROLE_SELECTORS if k in spec]
    if extra or len(chosen) != 1:
        raise CatalogueError(f"{where}: needs exactly one of {', '.join(ROLE_SELECTORS)} (and an optional "
                             f"description), got keys {sorted(map(str, spec))}")
    selector, value = chosen[0], spec[chosen[0]]
    if selector in ("bodies", "cameras"):
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise CatalogueError(f"{where}: {selector} must be a non-empty list of names, got {value!r}")
        value = tuple(value)
    elif selector == "body_pattern":
        try:
            if not isinstance(value, str):
                raise TypeError
            re.compile(value)
        except (re.error, TypeError, OverflowError, RecursionError):
            raise CatalogueError(f"{where}: body_pattern must be a regular expression, got {value!r}") from None
    elif value != "all":
        if not isinstance(value, list) or not value or not all(
                isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool) and v >= 0) for v in value):
            raise CatalogueError(f"{where}: lights must be 'all' or a list of light names or indices, got {value!r}")
        value = tuple(value)
    return Role(name, selector, value, str(spec.get("description", "")), default)


def check_role_target(kind: str, name: Any, roles: Mapping[str, Role], where: str) -> str:
    """A `targets: {role: name}` checked against the roles known to the file and the kind's elements."""
    if not isinstance(name, str) or name not in roles:
        raise CatalogueError(f"{where}: " + unknown_name_message("role", name, sorted(roles))
                             + " (define it under 'roles:')")
    role, needs = roles[name], KIND_ELEMENT[kind]
    if role.element != needs:
        raise CatalogueError(f"{where}: kind {kind} needs a role of {_PLURAL[needs]}, and {role.describe()} names "
                             f"{_PLURAL[role.element]}")
    return name


# -- binding to a model ------------------------------------------------------------------------------------------
def _names(model: mujoco.MjModel, obj: int, count: int) -> list[str]:
    return [mujoco.mj_id2name(model, obj, i) or "" for i in range(count)]


def model_inventory(model: mujoco.MjModel) -> str:
    """What a model offers for roles, in one line: its bodies (the robot's summarised), free bodies, lights, cameras."""
    bodies = _names(model, _OBJ.mjOBJ_BODY, model.nbody)
    robot = re.compile(DEFAULT_ROLES["robot"]["body_pattern"])
    others = [b for b in bodies if b and not robot.search(b)]
    free = [bodies[b] for b in range(model.nbody)
            if model.body_jntnum[b] and model.jnt_type[model.body_jntadr[b]] == mujoco.mjtJoint.mjJNT_FREE]
    lights = [n or f"#{i}" for i, n in enumerate(_names(model, _OBJ.mjOBJ_LIGHT, model.nlight))]
    cameras = [n for n in _names(model, _OBJ.mjOBJ_CAMERA, model.ncam) if n]
    n_robot = len(bodies) - len(others) - bodies.count("")
    return (f"the model's bodies: {', '.join(others)} (and {n_robot} robot bodies robot0_*/gripper0_*); "
            f"free bodies (the task's objects): {', '.join(free) or 'none'}; "
            f"lights: {', '.join(lights) or 'none'}; cameras: {', '.join(cameras) or 'none'}")


def resolve_role(model: mujoco.MjModel, role: Role, kind: str, where: str) -> tuple[int, ...]:
    """The indices of the model elements `kind` edits through `role`, or an error listing what the model has."""
    where = f"{where}: {role.describe()}"
    if role.selector == "lights":
        names = _names(model, _OBJ.mjOBJ_LIGHT, model.nlight)
        if role.value == "all":
            if not model.nlight:
                raise CatalogueError(f"{where}: the model has no lights; {model_inventory(model)}")
            return tuple(range(model.nlight))
        idx = []
        for ref in role.value:
            if isinstance(ref, int):
                if ref >= model.nlight:
                    raise CatalogueError(f"{where}: light index {ref} out of range; {model_inventory(model)}")
                idx.append(ref)
            elif ref in names:
                idx.append(names.index(ref))
            else:
                raise CatalogueError(f"{where}: no light {ref!r}; {model_inventory(model)}")
        return tuple(idx)
    if role.selector == "cameras":
        names = _names(model, _OBJ.mjOBJ_CAMERA, model.ncam)
        missing = [n for n in role.value if n not in names]
        if missing:
            raise CatalogueError(f"{where}: no camera {missing[0]!r}; {model_inventory(model)}")
        return tuple(names.index(n) for n in role.value)
    bodies = _role_bodies(model, role, where)
    if kind == "body_mass":
        return bodies
    in_role = np.isin(model.geom_bodyid, bodies)
    if kind == "geom_rgba":
        part = ((model.geom_group == VISUAL_GROUP) & (model.geom_contype == 0) & (model.geom_conaffinity == 0))
    elif kind == "geom_friction":
        part = (model.geom_contype != 0) | (model.geom_conaffinity != 0)
    else:  # geom_size: sizes are per-axis half-extents of boxes
        part = model.geom_type == mujoco.mjtGeom.mjGEOM_BOX
    idx = tuple(int(i) for i in np.flatnonzero(in_role & part))
    if not idx:
        raise CatalogueError(f"{where}: its bodies have no {GEOM_PART[kind]} for kind {kind} "
                             f"({int(in_role.sum())} geoms in all)")
    return idx


def _role_bodies(model: mujoco.MjModel, role: Role, where: str) -> tuple[int, ...]:
    names = _names(model, _OBJ.mjOBJ_BODY, model.nbody)
    if role.selector == "body_pattern":
        rx = re.compile(role.value)
        idx = tuple(i for i, n in enumerate(names) if rx.search(n))
        if not idx:
            raise CatalogueError(f"{where}: the pattern matches no body; {model_inventory(model)}")
        return idx
    for n in role.value:
        if n not in names:
            hint = " (define the role under 'roles:' in the task's catalogue)" if role.default else ""
            raise CatalogueError(f"{where}: the model has no body {n!r}{hint}; {model_inventory(model)}")
    return tuple(names.index(n) for n in role.value)
