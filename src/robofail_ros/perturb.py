"""Apply catalogue perturbations to a live MuJoCo model, reversibly and composably.

Editing `MjModel` arrays in place costs ~50-90 µs per apply-and-clear, where the
reference code's route (rewrite the XML, rebuild the simulation) costs 0.15-0.8 s
here, seconds with robosuite's hard resets, and loses the object placement
(bench/perturb_apply.py, docs/benchmarks.md). Every field touched is snapshotted on first touch, so
`clear()` restores the model bit for bit however many perturbations were stacked.

Scenes of the continuous factor space (factors.py) go through the same edit primitives and the same snapshots,
so a named perturbation and the scene it corresponds to (`scene_of`) edit the model identically.
"""
from __future__ import annotations

import colorsys
import math
import re
from dataclasses import dataclass
from typing import Mapping

import mujoco
import numpy as np

from robofail_ros.catalogue import Catalogue, CatalogueError, Perturbation, unknown_name_message
from robofail_ros.factors import FACTOR_TARGETS, Factor, FactorSpace, targets_key
from robofail_ros.roles import check_role_target, parse_roles, resolve_role

_OBJ = mujoco.mjtObj
_GEOM = mujoco.mjtGeom

#: Geom types whose bounding volumes we can recompute after a resize, with the sizes they use.
_RESIZABLE = {int(_GEOM.mjGEOM_BOX): 3, int(_GEOM.mjGEOM_SPHERE): 1,
              int(_GEOM.mjGEOM_CAPSULE): 2, int(_GEOM.mjGEOM_CYLINDER): 2}


@dataclass(frozen=True)
class BoundPerturbation:
    """A perturbation with its targets resolved to indices in one particular model."""

    spec: Perturbation
    indices: tuple[int, ...]


@dataclass(frozen=True)
class BoundFactor:
    """A factor with its targets resolved to indices in one particular model."""

    spec: Factor
    indices: tuple[int, ...]


#: Axis index of a geom_size / camera_position component, and the camera-frame axis of each rotation.
_AXIS = {"x": 0, "y": 1, "z": 2}
_CAMERA_AXIS = {"pitch": (1.0, 0.0, 0.0), "yaw": (0.0, 1.0, 0.0), "roll": (0.0, 0.0, 1.0)}


def _names(model: mujoco.MjModel, obj: int, count: int) -> list[str]:
    return [mujoco.mj_id2name(model, obj, i) or "" for i in range(count)]


def _geom_label(model: mujoco.MjModel, i: int) -> str:
    """A geom as errors name it: quoted name, or its index and body when robosuite left it unnamed."""
    name = model.geom(i).name
    return repr(name) if name else f"#{i} (unnamed, in body {model.body(model.geom_bodyid[i]).name!r})"


def _half_extents(geom_type: int, size: np.ndarray) -> np.ndarray:
    """Axis-aligned half-extents of a primitive geom in its own frame (MuJoCo's aabb convention)."""
    if geom_type == _GEOM.mjGEOM_BOX:
        return size[:3].copy()
    if geom_type == _GEOM.mjGEOM_SPHERE:
        return np.full(3, size[0])
    if geom_type == _GEOM.mjGEOM_CAPSULE:
        return np.array([size[0], size[0], size[0] + size[1]])
    return np.array([size[0], size[0], size[1]])  # cylinder


def _bounding_radius(geom_type: int, size: np.ndarray) -> float:
    """MuJoCo's geom_rbound: radius of the sphere around the geom centre that contains it."""
    if geom_type == _GEOM.mjGEOM_BOX:
        return math.sqrt(size[0] * size[0] + size[1] * size[1] + size[2] * size[2])
    if geom_type == _GEOM.mjGEOM_SPHERE:
        return float(size[0])
    if geom_type == _GEOM.mjGEOM_CAPSULE:
        return float(size[0] + size[1])
    return float(np.hypot(size[0], size[1]))  # cylinder


class LiveModelPerturber:
    """Owns the perturbation state of one model: which perturbations are on, and the originals."""

    def __init__(self, model: mujoco.MjModel, catalogue: Catalogue, space: FactorSpace | None = None) -> None:
        self.model = model
        self.catalogue = catalogue
        self.space = space
        self._scratch = mujoco.MjData(model)  # mj_setConst needs data; never disturb the live state
        self._bound = {p.name: self._bind(p) for p in catalogue.perturbations}
        self._factors = {f.name: self._bind_factor(f) for f in (space.factors if space else ())}
        # Factors that combine into one edit (a colour's three channels, a camera's angles), found once here.
        self._combined: dict[str, list[BoundFactor]] = {}
        for b in self._factors.values():
            if b.spec.kind in ("geom_colour", "camera_orientation"):
                key = f"{b.spec.kind}:{targets_key(b.spec.targets)}"
                self._combined.setdefault(key, []).append(b)
        self._group_of = {b.spec.name: key for key, members in self._combined.items() for b in members}
        self._originals: dict[str, np.ndarray] = {}
        self._needs_set_const = False
        self._rest_geoms: set[int] = set()
        self.applied: list[str] = []
        self.scene: dict[str, float] = {}

    # -- binding ---------------------------------------------------------------------------
    def _bind(self, p: Perturbation) -> BoundPerturbation:
        where = f"perturbation {p.name!r} ({self.catalogue.source})"
        size_len = len(p.params["size"]) if p.kind == "geom_size" else None
        return BoundPerturbation(p, self._resolve(where, p.kind, p.targets, size_len, self.catalogue.roles))

    def _bind_factor(self, f: Factor) -> BoundFactor:
        where = f"factor {f.name!r} ({self.space.source})"
        kind = FACTOR_TARGETS[f.kind]
        idx = self._resolve(where, kind, f.targets, 3 if kind == "geom_size" else None, self.space.roles)
        if f.kind == "geom_size":
            for i in idx:
                if self.model.geom_type[i] != _GEOM.mjGEOM_BOX:
                    raise CatalogueError(f"{where}: geom {_geom_label(self.model, i)} is not a box; "
                                         "a per-axis size factor needs box geoms")
        return BoundFactor(f, idx)

    def _resolve(self, where: str, kind: str, t: Mapping, size_len: int | None,
                 roles: Mapping | None = None) -> tuple[int, ...]:
        """Target selectors -> element indices in this model, or an error listing what the model has."""
        m = self.model
        if "role" in t:
            roles = roles or parse_roles(None, where)  # a catalogue built in code carries no roles: the defaults
            idx = resolve_role(m, roles[check_role_target(kind, t["role"], roles, where)], kind, where)
            if kind == "geom_size":
                self._check_resizable(where, list(idx), size_len)
            return idx
        if "geoms" in t or "geom_pattern" in t:
            names = _names(m, _OBJ.mjOBJ_GEOM, m.ngeom)
            idx: list[int] = []
            for n in t.get("geoms", ()):
                if n not in names:
                    raise CatalogueError(f"{where}: " + unknown_name_message("geom", n, [x for x in names if x]))
                idx.append(names.index(n))
            if "geom_pattern" in t:
                rx = re.compile(t["geom_pattern"])
                matched = [i for i, n in enumerate(names) if rx.search(n)]
                if "geom_group" in t:
                    matched = [i for i in matched if m.geom_group[i] == t["geom_group"]]
                if not matched:
                    raise CatalogueError(f"{where}: geom_pattern {t['geom_pattern']!r} matches no geom of this model")
                idx.extend(matched)
            if kind == "geom_size":
                self._check_resizable(where, idx, size_len)
            return tuple(idx)
        if "lights" in t:
            names = _names(m, _OBJ.mjOBJ_LIGHT, m.nlight)
            idx = []
            for ref in t["lights"]:
                if isinstance(ref, int):
                    if ref >= m.nlight:
                        raise CatalogueError(f"{where}: light index {ref} out of range; the model has {m.nlight} light(s)")
                    idx.append(ref)
                elif ref in names:
                    idx.append(names.index(ref))
                else:
                    raise CatalogueError(f"{where}: " + unknown_name_message("light", ref, [n for n in names if n]))
            return tuple(idx)
        if "cameras" in t:
            names = _names(m, _OBJ.mjOBJ_CAMERA, m.ncam)
            for n in t["cameras"]:
                if n not in names:
                    raise CatalogueError(f"{where}: " + unknown_name_message("camera", n, names))
            return tuple(names.index(n) for n in t["cameras"])
        names = _names(m, _OBJ.mjOBJ_BODY, m.nbody)
        for n in t["bodies"]:
            if n not in names:
                raise CatalogueError(f"{where}: " + unknown_name_message("body", n, names))
        return tuple(names.index(n) for n in t["bodies"])

    def _check_resizable(self, where: str, idx: list[int], size_len: int | None) -> None:
        """Every geom is a primitive whose size takes `size_len` values."""
        for i in idx:
            gt = int(self.model.geom_type[i])
            name = _geom_label(self.model, i)
            if gt not in _RESIZABLE:
                raise CatalogueError(f"{where}: geom {name} is not a box, sphere, capsule or cylinder")
            if size_len != _RESIZABLE[gt]:
                raise CatalogueError(f"{where}: geom {name} needs {_RESIZABLE[gt]} size values, got {size_len}")

    # -- state -----------------------------------------------------------------------------
    def _field(self, name: str) -> np.ndarray:
        """The live model array `name`, snapshotted the first time it is touched."""
        arr = getattr(self.model, name)
        if name not in self._originals:
            self._originals[name] = arr.copy()
        return arr

    def _original(self, name: str) -> np.ndarray:
        return self._originals.get(name, getattr(self.model, name))

    def apply(self, name: str) -> None:
        """Add one perturbation on top of those already applied."""
        bound = self._bound.get(name)
        if bound is None:
            raise CatalogueError(unknown_name_message("perturbation", name, self.catalogue.names))
        p, idx = bound.spec, list(bound.indices)
        kind = p.kind
        if kind == "geom_rgba":
            self._paint(idx, p.params["rgba"])
        elif kind == "light_diffuse":
            self._field("light_diffuse")[idx] = p.params["diffuse"]
        elif kind == "light_intensity":
            self._field("light_diffuse")[idx] *= p.params["scale"]
        elif kind == "camera_pose":
            self._field("cam_pos")[idx] += p.params["offset"]
        elif kind == "geom_size":
            self._resize(idx, slice(0, len(p.params["size"])), np.asarray(p.params["size"]))
            if p.rest_on_table:
                self._rest_geoms.update(idx)
        elif kind == "body_mass":
            self._scale_mass(idx, p.params["scale"])
        elif kind == "geom_friction":
            self._field("geom_friction")[idx] *= p.params["scale"]
        self.applied.append(name)

    # -- edit primitives shared by perturbations and scenes -------------------------------------
    def _paint(self, idx: list[int], rgba) -> None:
        self._field("geom_rgba")[idx] = rgba
        # A material's texture tints the rgba (a green cube on red wood renders black): drop it.
        self._field("geom_matid")[idx] = -1

    def _scale_mass(self, idx: list[int], scale: float) -> None:
        self._field("body_mass")[idx] *= scale
        self._field("body_inertia")[idx] *= scale
        self._needs_set_const = True
        self._set_const()

    def _resize(self, idx: list[int], axes: slice | int, size: np.ndarray | float) -> None:
        m = self.model
        geom_size, rbound, aabb = self._field("geom_size"), self._field("geom_rbound"), self._field("geom_aabb")
        geom_size[idx, axes] = size
        for i in idx:
            half = _half_extents(int(m.geom_type[i]), geom_size[i])
            rbound[i] = _bounding_radius(int(m.geom_type[i]), geom_size[i])
            aabb[i, :3] = 0.0
            aabb[i, 3:] = half

    def _update_box_bounds(self, idx: list[int]) -> None:
        """geom_rbound and geom_aabb of resized boxes, vectorised (what `_resize` does geom by geom)."""
        size = self.model.geom_size[idx]
        self._field("geom_rbound")[idx] = np.sqrt((size * size).sum(axis=1))
        aabb = self._field("geom_aabb")
        aabb[idx, :3] = 0.0
        aabb[idx, 3:] = size

    def _set_const(self) -> None:
        mujoco.mj_setConst(self.model, self._scratch)

    def clear(self) -> None:
        """Restore every touched array to its value before the first perturbation."""
        for name, original in self._originals.items():
            getattr(self.model, name)[...] = original
        if self._needs_set_const:
            self._set_const()
        self._originals.clear()
        self._needs_set_const = False
        self._rest_geoms.clear()
        self.applied.clear()
        self.scene = {}

    def set(self, names: list[str] | tuple[str, ...], scene: Mapping[str, float] | None = None) -> None:
        """Make exactly `scene` (factor values) and then `names` (in order) active; bad input changes nothing."""
        for n in names:
            if n not in self._bound:
                raise CatalogueError(unknown_name_message("perturbation", n, self.catalogue.names))
        scene = self.check_scene(scene)
        if list(names) == self.applied and scene == self.scene:
            return
        self.clear()
        self._apply_scene(scene)
        for n in names:
            self.apply(n)

    # -- scenes of the continuous factor space ------------------------------------------------
    def check_scene(self, scene: Mapping[str, float] | None) -> dict[str, float]:
        """A validated copy of `scene` holding only the factors away from their nominal value."""
        if not scene:
            return {}
        if self.space is None:
            raise CatalogueError(f"catalogue {self.catalogue.source} declares no factors, so no scene can be applied")
        checked = self.space.check(scene)
        return {n: v for n, v in checked.items() if v != self.space.get(n).nominal}

    def _apply_scene(self, scene: dict[str, float]) -> None:
        """Edit the model for every factor away from nominal; factors sharing targets are combined once."""
        combined: set[str] = set()
        resized: set[int] = set()
        lights: dict[tuple[int, ...], dict[str, float]] = {}
        for name, value in scene.items():
            b = self._factors[name]
            f, idx = b.spec, list(b.indices)
            if name in self._group_of:
                combined.add(self._group_of[name])
            elif f.kind in ("light_colour", "light_intensity"):  # channels at nominal keep the model's own
                lights.setdefault(b.indices, {})[f.component or "intensity"] = value
            elif f.kind == "camera_position":
                self._field("cam_pos")[idx, _AXIS[f.component]] += value
            elif f.kind == "geom_size":  # boxes only (checked on binding): bounds recomputed once, below
                self._field("geom_size")[idx, _AXIS[f.component]] = value
                resized.update(idx)
                if f.rest_on_table:
                    self._rest_geoms.update(idx)
            elif f.kind == "body_mass":
                self._scale_mass(idx, value)
            elif f.kind == "geom_friction":
                self._field("geom_friction")[idx] *= value
        if resized:
            self._update_box_bounds(sorted(resized))
        for key in combined:
            members = self._combined[key]
            values = {b.spec.component: scene.get(b.spec.name, b.spec.nominal) for b in members}
            idx = list(members[0].indices)
            if members[0].spec.kind == "geom_colour":
                rgba = self._original("geom_rgba")[idx].copy()
                rgba[:, :3] = colorsys.hsv_to_rgb(values["hue"], values["saturation"], values["value"])
                self._paint(idx, rgba)
            else:
                self._rotate_camera(idx, values)
        for light_idx, values in lights.items():
            self._set_light(list(light_idx), values)
        self.scene = dict(scene)

    def _set_light(self, idx: list[int], values: dict[str, float]) -> None:
        """Diffuse = intensity x the model's; with a hue or saturation given, recoloured at the same brightness.

        A channel not given keeps the model's own (so a grey light stays grey when only its hue moves: at zero
        saturation hue has no effect, as in any HSV colour).
        """
        diffuse = self._field("light_diffuse")
        original = self._original("light_diffuse")[idx]
        intensity = values.get("intensity", 1.0)
        if "hue" in values or "saturation" in values:
            nominal_h, nominal_s, _ = colorsys.rgb_to_hsv(*original[0])
            rgb = colorsys.hsv_to_rgb(values.get("hue", nominal_h), values.get("saturation", nominal_s), 1.0)
            diffuse[idx] = original.max(axis=1, keepdims=True) * intensity * np.asarray(rgb)
        else:
            diffuse[idx] = original * intensity

    def _rotate_camera(self, idx: list[int], degrees: dict[str, float]) -> None:
        """Turn each camera about its own axes (yaw, then pitch, then roll) from its nominal orientation."""
        quat = self._field("cam_quat")
        delta = np.array([1.0, 0.0, 0.0, 0.0])
        for axis in ("yaw", "pitch", "roll"):
            if degrees.get(axis, 0.0):
                turn = np.empty(4)
                mujoco.mju_axisAngle2Quat(turn, np.array(_CAMERA_AXIS[axis]), np.deg2rad(degrees[axis]))
                out = np.empty(4)
                mujoco.mju_mulQuat(out, delta, turn)
                delta = out
        for i in idx:
            out = np.empty(4)
            mujoco.mju_mulQuat(out, self._original("cam_quat")[i], delta)
            quat[i] = out

    def scene_of(self, name: str) -> dict[str, float]:
        """The scene that edits the model exactly as the named perturbation does (its point of the factor space).

        Raises CatalogueError when the factor space has no factor for what the perturbation changes, or the
        value lies outside that factor's range.
        """
        bound = self._bound.get(name)
        if bound is None:
            raise CatalogueError(unknown_name_message("perturbation", name, self.catalogue.names))
        if self.space is None:
            raise CatalogueError(f"catalogue {self.catalogue.source} declares no factors")
        p, idx = bound.spec, bound.indices
        where = f"perturbation {name!r} as a scene"

        def factor(kind: str, component: str = "", indices: tuple[int, ...] = idx) -> Factor:
            for b in self._factors.values():
                if b.spec.kind == kind and b.spec.component == component and sorted(b.indices) == sorted(indices):
                    return b.spec
            raise CatalogueError(f"{where}: no factor of kind {kind}{(' ' + component) if component else ''} "
                                 f"acts on the same targets")

        scene: dict[str, float] = {}
        kind = p.kind
        if kind == "geom_rgba":
            rgba = p.params["rgba"]
            if any(self.model.geom_rgba[i, 3] != rgba[3] for i in idx):
                raise CatalogueError(f"{where}: colour factors keep the model's alpha, and {rgba[3]} differs from it")
            for channel, v in zip(("hue", "saturation", "value"), colorsys.rgb_to_hsv(*rgba[:3])):
                scene[factor("geom_colour", channel).name] = v
        elif kind == "light_diffuse":
            rgb = np.asarray(p.params["diffuse"])
            h, s_, _ = colorsys.rgb_to_hsv(*rgb)
            scene[factor("light_colour", "hue").name] = h
            scene[factor("light_colour", "saturation").name] = s_
            scene[factor("light_intensity").name] = float(rgb.max() / self._original("light_diffuse")[idx[0]].max())
        elif kind == "light_intensity":
            scene[factor("light_intensity").name] = p.params["scale"]
        elif kind == "camera_pose":
            for axis, v in zip("xyz", p.params["offset"]):
                if v:
                    scene[factor("camera_position", axis).name] = v
        elif kind == "geom_size":
            for axis, v in zip("xyz", p.params["size"]):
                if any(self._original("geom_size")[i, _AXIS[axis]] != v for i in idx):
                    scene[factor("geom_size", axis).name] = v
        elif kind in ("body_mass", "geom_friction"):
            scene[factor(kind).name] = p.params["scale"]
        try:
            self.space.check(scene)
        except CatalogueError as exc:
            raise CatalogueError(f"{where}: {exc}") from None
        return scene

    def rest_offsets(self) -> list[tuple[int, float]]:
        """(qpos address, dz) pairs that put resized free objects back on the surface they were placed on.

        robosuite places objects at their *original* half-height above the table; a
        resized object must be lifted or lowered by the change in half-height, or it
        starts inside the table (and is shot out) or floating above it.
        """
        m = self.model
        dz_by_body: dict[int, float] = {}
        for g in self._rest_geoms:
            body = int(m.geom_bodyid[g])
            old = _half_extents(int(m.geom_type[g]), self._original("geom_size")[g])[2]
            new = _half_extents(int(m.geom_type[g]), m.geom_size[g])[2]
            dz_by_body[body] = max(dz_by_body.get(body, -np.inf), new - old)
        out = []
        for body, dz in sorted(dz_by_body.items()):
            j = m.body_jntadr[body]
            if j >= 0 and m.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE:
                out.append((int(m.jnt_qposadr[j]) + 2, float(dz)))
        return out
