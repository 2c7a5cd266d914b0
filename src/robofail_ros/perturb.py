"""Apply catalogue perturbations to a live MuJoCo model, reversibly and composably.

Editing `MjModel` arrays in place costs ~50-90 µs per apply-and-clear, where the
reference code's route (rewrite the XML, rebuild the simulation) costs 0.15-0.8 s
here, seconds with robosuite's hard resets, and loses the object placement
(bench/perturb_apply.py, docs/benchmarks.md). Every field touched is snapshotted on first touch, so
`clear()` restores the model bit for bit however many perturbations were stacked.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import mujoco
import numpy as np

from robofail_ros.catalogue import Catalogue, CatalogueError, Perturbation, unknown_name_message

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


def _names(model: mujoco.MjModel, obj: int, count: int) -> list[str]:
    return [mujoco.mj_id2name(model, obj, i) or "" for i in range(count)]


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
        return float(np.linalg.norm(size[:3]))
    if geom_type == _GEOM.mjGEOM_SPHERE:
        return float(size[0])
    if geom_type == _GEOM.mjGEOM_CAPSULE:
        return float(size[0] + size[1])
    return float(np.hypot(size[0], size[1]))  # cylinder


class LiveModelPerturber:
    """Owns the perturbation state of one model: which perturbations are on, and the originals."""

    def __init__(self, model: mujoco.MjModel, catalogue: Catalogue) -> None:
        self.model = model
        self.catalogue = catalogue
        self._scratch = mujoco.MjData(model)  # mj_setConst needs data; never disturb the live state
        self._bound = {p.name: self._bind(p) for p in catalogue.perturbations}
        self._originals: dict[str, np.ndarray] = {}
        self._needs_set_const = False
        self.applied: list[str] = []

    # -- binding ---------------------------------------------------------------------------
    def _bind(self, p: Perturbation) -> BoundPerturbation:
        m = self.model
        where = f"perturbation {p.name!r} ({self.catalogue.source})"
        t = p.targets
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
            if p.kind == "geom_size":
                for i in idx:
                    gt = int(m.geom_type[i])
                    if gt not in _RESIZABLE:
                        raise CatalogueError(f"{where}: geom {names[i]!r} is not a box, sphere, capsule or cylinder")
                    if len(p.params["size"]) != _RESIZABLE[gt]:
                        raise CatalogueError(
                            f"{where}: geom {names[i]!r} needs {_RESIZABLE[gt]} size values, got {len(p.params['size'])}")
            return BoundPerturbation(p, tuple(idx))
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
            return BoundPerturbation(p, tuple(idx))
        if "cameras" in t:
            names = _names(m, _OBJ.mjOBJ_CAMERA, m.ncam)
            for n in t["cameras"]:
                if n not in names:
                    raise CatalogueError(f"{where}: " + unknown_name_message("camera", n, names))
            return BoundPerturbation(p, tuple(names.index(n) for n in t["cameras"]))
        names = _names(m, _OBJ.mjOBJ_BODY, m.nbody)
        for n in t["bodies"]:
            if n not in names:
                raise CatalogueError(f"{where}: " + unknown_name_message("body", n, names))
        return BoundPerturbation(p, tuple(names.index(n) for n in t["bodies"]))

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
            self._field("geom_rgba")[idx] = p.params["rgba"]
            # A material's texture tints the rgba (a green cube on red wood renders black): drop it.
            self._field("geom_matid")[idx] = -1
        elif kind == "light_diffuse":
            self._field("light_diffuse")[idx] = p.params["diffuse"]
        elif kind == "light_intensity":
            self._field("light_diffuse")[idx] *= p.params["scale"]
        elif kind == "camera_pose":
            self._field("cam_pos")[idx] += p.params["offset"]
        elif kind == "geom_size":
            self._resize(idx, np.asarray(p.params["size"]))
        elif kind == "body_mass":
            s = p.params["scale"]
            self._field("body_mass")[idx] *= s
            self._field("body_inertia")[idx] *= s
            self._needs_set_const = True
            self._set_const()
        elif kind == "geom_friction":
            self._field("geom_friction")[idx] *= p.params["scale"]
        self.applied.append(name)

    def _resize(self, idx: list[int], size: np.ndarray) -> None:
        m = self.model
        geom_size, rbound, aabb = self._field("geom_size"), self._field("geom_rbound"), self._field("geom_aabb")
        for i in idx:
            n = len(size)
            geom_size[i, :n] = size
            half = _half_extents(int(m.geom_type[i]), geom_size[i])
            rbound[i] = _bounding_radius(int(m.geom_type[i]), geom_size[i])
            aabb[i, :3] = 0.0
            aabb[i, 3:] = half

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
        self.applied.clear()

    def set(self, names: list[str] | tuple[str, ...]) -> None:
        """Make exactly `names` (in order) the active perturbations; unknown names change nothing."""
        for n in names:
            if n not in self._bound:
                raise CatalogueError(unknown_name_message("perturbation", n, self.catalogue.names))
        if list(names) == self.applied:
            return
        self.clear()
        for n in names:
            self.apply(n)

    def rest_offsets(self) -> list[tuple[int, float]]:
        """(qpos address, dz) pairs that put resized free objects back on the surface they were placed on.

        robosuite places objects at their *original* half-height above the table; a
        resized object must be lifted or lowered by the change in half-height, or it
        starts inside the table (and is shot out) or floating above it.
        """
        m = self.model
        dz_by_body: dict[int, float] = {}
        for name in self.applied:
            bound = self._bound[name]
            if not bound.spec.rest_on_table:
                continue
            for g in bound.indices:
                body = int(m.geom_bodyid[g])
                old = _half_extents(int(m.geom_type[g]), self._original("geom_size")[g])[2]
                new = _half_extents(int(m.geom_type[g]), m.geom_size[g])[2]
                dz_by_body[body] = max(dz_by_body.get(body, -np.inf), new - old)
        out = []
        for body, dz in dz_by_body.items():
            j = m.body_jntadr[body]
            if j >= 0 and m.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE:
                out.append((int(m.jnt_qposadr[j]) + 2, float(dz)))
        return out
