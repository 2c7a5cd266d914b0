"""The continuous scene space: factors with ranges, read from the `factors:` section of a task's catalogue YAML.

The named perturbations of the catalogue are a handful of points; a team deploying a policy needs to know how
far each condition may move before the policy breaks, and which conditions break it only together. A factor is
one continuous condition (a colour channel, the light's intensity, a camera angle, an object's half-extent, a
mass scale) with a range, a scale (linear or log) and the nominal value at which it leaves the model untouched.
A *scene* is one value per factor; equivalently a point of the unit cube through each factor's scale, which is
where the searchers and the analysis work.

Validation happens here, on load, and names the factor and what would be accepted; binding to a model (does the
target exist?) happens in `perturb.LiveModelPerturber`, also before any episode runs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from robofail_ros.catalogue import (
    CatalogueError, _check_targets, _finite_number, catalogue_path, available_tasks, read_catalogue_yaml,
    unknown_name_message,
)

#: Factor kinds: what each edits, the field that picks the component, the values it accepts, and its unit.
FACTOR_KINDS: dict[str, dict[str, Any]] = {
    "geom_colour": {"field": "channel", "choices": ("hue", "saturation", "value"), "range": (0.0, 1.0), "unit": "",
                    "circular": ("hue",),
                    "edits": "flat colour of the target geoms in hue/saturation/value (material dropped)"},
    "light_colour": {"field": "channel", "choices": ("hue", "saturation"), "range": (0.0, 1.0), "unit": "",
                     "circular": ("hue",),
                     "edits": "hue/saturation of the light's diffuse colour"},
    "light_intensity": {"field": None, "choices": (), "range": (1e-3, 1000.0), "unit": "x nominal",
                        "edits": "the light's diffuse intensity as a multiple of the model's"},
    "camera_position": {"field": "axis", "choices": ("x", "y", "z"), "range": (-1.0, 1.0), "unit": "m",
                        "edits": "camera position offset in its parent body's frame (the world for fixed cameras)"},
    "camera_orientation": {"field": "axis", "choices": ("yaw", "pitch", "roll"), "range": (-90.0, 90.0), "unit": "deg",
                           "edits": "camera rotation about its own up (yaw), right (pitch) or viewing (roll) axis"},
    "geom_size": {"field": "axis", "choices": ("x", "y", "z"), "range": (1e-4, 2.0), "unit": "m",
                  "edits": "half-extent of the target box geoms along one axis (absolute)"},
    "body_mass": {"field": None, "choices": (), "range": (1e-3, 1000.0), "unit": "x nominal",
                  "edits": "mass and inertia of the target bodies as a multiple of the model's"},
    "geom_friction": {"field": None, "choices": (), "range": (1e-3, 1000.0), "unit": "x nominal",
                      "edits": "sliding friction of the target geoms as a multiple of the model's"},
}

#: Which target selectors each factor kind uses (the same selectors as catalogue perturbations).
FACTOR_TARGETS: dict[str, str] = {
    "geom_colour": "geom_rgba", "light_colour": "light_diffuse", "light_intensity": "light_intensity",
    "camera_position": "camera_pose", "camera_orientation": "camera_pose", "geom_size": "geom_size",
    "body_mass": "body_mass", "geom_friction": "geom_friction",
}

SCALES = ("linear", "log")
_FACTOR_KEYS = {"name", "group", "kind", "targets", "low", "high", "nominal", "scale", "channel", "axis",
                "rest_on_table", "description"}


@dataclass(frozen=True)
class Factor:
    """One continuous scene condition with its range; at `nominal` it leaves the model untouched."""

    name: str
    group: str
    kind: str
    targets: Mapping[str, Any]
    low: float
    high: float
    nominal: float
    scale: str = "linear"
    component: str = ""
    """The channel (geom/light colour) or axis (camera, size) this factor moves; '' for scalar kinds."""
    rest_on_table: bool = False
    """geom_size along z only: move a free object so it still rests on the surface it was placed on."""
    description: str = ""

    @property
    def unit(self) -> str:
        return FACTOR_KINDS[self.kind]["unit"]

    @property
    def circular(self) -> bool:
        """True for a component that is an angle (a hue) ranging over its whole circle: its two ends are one colour.

        The failure model then measures distance around the circle, so what a policy does at hue 0.98 informs hue
        0.01. A hue restricted to part of the circle is an ordinary interval.
        """
        kind = FACTOR_KINDS[self.kind]
        return (self.component in kind.get("circular", ()) and self.scale == "linear"
                and (self.low, self.high) == tuple(kind["range"]))

    def to_unit(self, value: np.ndarray | float) -> np.ndarray | float:
        """Factor units -> [0, 1] (log-linearly for a log factor)."""
        if self.scale == "log":
            return (np.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (np.asarray(value, dtype=float) - self.low) / (self.high - self.low)

    def from_unit(self, u: np.ndarray | float) -> np.ndarray | float:
        """[0, 1] -> factor units; the inverse of `to_unit`."""
        u = np.asarray(u, dtype=float)
        if self.scale == "log":
            return np.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)


@dataclass(frozen=True)
class FactorSpace:
    """The box of scenes of one task: an ordered list of factors (the order is the coordinate order)."""

    task: str
    factors: tuple[Factor, ...]
    source: str = "<memory>"
    roles: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """The task's roles (roles.Role by name, defaults included) that `targets: {role: ...}` refer to."""
    _index: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {f.name: i for i, f in enumerate(self.factors)})

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.factors]

    @property
    def dim(self) -> int:
        return len(self.factors)

    def __len__(self) -> int:
        return len(self.factors)

    def index(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            raise CatalogueError(unknown_name_message("factor", name, self.names)) from None

    def get(self, name: str) -> Factor:
        return self.factors[self.index(name)]

    @property
    def circular(self) -> tuple[int, ...]:
        """Coordinates of the circular factors (see `Factor.circular`)."""
        return tuple(i for i, f in enumerate(self.factors) if f.circular)

    @property
    def low(self) -> np.ndarray:
        return np.array([f.low for f in self.factors])

    @property
    def high(self) -> np.ndarray:
        return np.array([f.high for f in self.factors])

    @property
    def nominal(self) -> np.ndarray:
        return np.array([f.nominal for f in self.factors])

    def to_unit(self, values: np.ndarray) -> np.ndarray:
        """Scene vectors (d,) or (n, d) in factor units -> unit-cube coordinates."""
        values = np.asarray(values, dtype=float)
        out = np.empty_like(values)
        for i, f in enumerate(self.factors):
            out[..., i] = f.to_unit(values[..., i])
        return out

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Unit-cube coordinates (d,) or (n, d) -> scene vectors in factor units (clipped into the box)."""
        u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
        out = np.empty_like(u)
        for i, f in enumerate(self.factors):
            out[..., i] = f.from_unit(u[..., i])
        return np.clip(out, self.low, self.high)  # exp(log(x)) may overshoot a bound by an ulp

    def scene(self, values: Sequence[float] | np.ndarray) -> dict[str, float]:
        """A validated scene {factor: value} from a full vector in factor units."""
        values = np.asarray(values, dtype=float)
        if values.shape != (self.dim,):
            raise CatalogueError(f"a scene of task {self.task} needs {self.dim} values ({', '.join(self.names)}), "
                                 f"got shape {values.shape}")
        return self.check({n: float(v) for n, v in zip(self.names, values)})

    def check(self, scene: Mapping[str, Any]) -> dict[str, float]:
        """Validate a (partial) scene: known factors, finite values inside their ranges."""
        out = {}
        for name, value in scene.items():
            f = self.get(name)
            if not _finite_number(value) or not f.low <= value <= f.high:
                raise CatalogueError(f"factor {name!r}: value {value!r} is outside its range "
                                     f"[{f.low:g}, {f.high:g}]{(' ' + f.unit) if f.unit else ''}")
            out[name] = float(value)
        return out

    def vector(self, scene: Mapping[str, float] | None) -> np.ndarray:
        """The full vector of a (partial) scene in factor units: missing factors take their nominal value."""
        v = self.nominal
        for name, value in self.check(scene or {}).items():
            v[self.index(name)] = value
        return v

    def random_scene(self, rng: np.random.Generator) -> dict[str, float]:
        """A scene drawn uniformly in the unit cube (log factors log-uniformly)."""
        return self.scene(self.from_unit(rng.random(self.dim)))

    def info(self) -> list:
        """The factors as self-contained records for results and log headers."""
        from robofail_ros.continuous.result import FactorInfo

        return [FactorInfo(f.name, f.group, f.kind, f.low, f.high, f.nominal, f.scale, f.unit, f.circular)
                for f in self.factors]


def load_factor_space(task_or_path: str | Path) -> FactorSpace:
    """The factor space of a task (`Lift`) or a catalogue YAML path; an error if it declares no factors."""
    path = Path(task_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = catalogue_path(str(task_or_path))
        if not path.exists():
            raise CatalogueError(unknown_name_message("task", task_or_path, available_tasks())
                                 + " (catalogues live in config/perturbations/)")
    data = read_catalogue_yaml(path)
    if not isinstance(data, dict) or "factors" not in data:
        raise NoFactorsError(f"{path}: no 'factors' section, so this task has no continuous scene space "
                             "(add one, see config/perturbations/lift.yaml)")
    from robofail_ros.roles import parse_roles

    return parse_factors(data.get("task"), data["factors"], source=str(path),
                         roles=parse_roles(data.get("roles"), str(path)))


def optional_factor_space(task_or_path: str | Path) -> FactorSpace | None:
    """The task's factor space, or None when its catalogue declares no factors (discrete audits only)."""
    try:
        return load_factor_space(task_or_path)
    except NoFactorsError:
        return None


class NoFactorsError(CatalogueError):
    """The catalogue has no `factors:` section."""


def parse_factors(task: Any, entries: Any, source: str = "<memory>",
                  roles: Mapping[str, Any] | None = None) -> FactorSpace:
    """Validate a `factors:` list already parsed from YAML; `roles` are the file's parsed roles (None: defaults)."""
    from robofail_ros.roles import parse_roles

    roles = roles if roles is not None else parse_roles(None, source)
    if not isinstance(task, str) or not task:
        raise CatalogueError(f"{source}: 'task' must be a robosuite task name such as Lift, got {task!r}")
    if not isinstance(entries, list) or not entries:
        raise CatalogueError(f"{source}: 'factors' must be a non-empty list")
    factors: list[Factor] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        f = _parse_factor(entry, f"{source}: factor #{i}", roles)
        if f.name in seen:
            raise CatalogueError(f"{source}: factor #{i}: duplicate name {f.name!r}")
        seen.add(f.name)
        factors.append(f)
    _check_colour_groups(factors, source)
    return FactorSpace(task=task, factors=tuple(factors), source=source, roles=roles)


def _parse_factor(entry: Any, where: str, roles: Mapping[str, Any]) -> Factor:
    if not isinstance(entry, dict):
        raise CatalogueError(f"{where}: must be a mapping, got {type(entry).__name__}")
    name = entry.get("name")
    if (not isinstance(name, str) or not name.isascii() or not name.replace("_", "").isalnum()
            or not name[:1].isalpha()):
        raise CatalogueError(f"{where}: 'name' must be letters, digits and underscores starting with a letter "
                             f"(it becomes a ROS parameter name), got {name!r}")
    where = f"{where} ({name})"
    extra = set(entry) - _FACTOR_KEYS
    if extra:
        raise CatalogueError(f"{where}: unknown key(s) {sorted(extra, key=str)}; accepted: {', '.join(sorted(_FACTOR_KEYS))}")
    kind = entry.get("kind")
    if not isinstance(kind, str) or kind not in FACTOR_KINDS:
        raise CatalogueError(f"{where}: " + unknown_name_message("factor kind", kind, list(FACTOR_KINDS)))
    spec = FACTOR_KINDS[kind]
    component = ""
    if spec["field"] is not None:
        component = entry.get(spec["field"])
        if component not in spec["choices"]:
            raise CatalogueError(f"{where}: kind {kind} needs '{spec['field']}' to be one of "
                                 f"{', '.join(spec['choices'])}, got {component!r}")
    for other in ("channel", "axis"):
        if other in entry and other != spec["field"]:
            raise CatalogueError(f"{where}: kind {kind} takes no '{other}'")
    scale = entry.get("scale", "linear")
    if scale not in SCALES:
        raise CatalogueError(f"{where}: 'scale' must be one of {', '.join(SCALES)}, got {scale!r}")
    bounds = {}
    for key in ("low", "high", "nominal"):
        value = entry.get(key)
        if not _finite_number(value):
            raise CatalogueError(f"{where}: '{key}' must be a finite number, got {value!r}")
        bounds[key] = float(value)
    low, high, nominal = bounds["low"], bounds["high"], bounds["nominal"]
    lo_ok, hi_ok = spec["range"]
    unit = f" {spec['unit']}" if spec["unit"] else ""
    if not low < high:
        raise CatalogueError(f"{where}: 'low' ({low:g}) must be below 'high' ({high:g})")
    if low < lo_ok or high > hi_ok:
        raise CatalogueError(f"{where}: range [{low:g}, {high:g}] is outside what kind {kind} allows, "
                             f"[{lo_ok:g}, {hi_ok:g}]{unit}")
    if scale == "log" and low <= 0:
        raise CatalogueError(f"{where}: a log scale needs positive bounds, got low = {low:g}")
    if not low <= nominal <= high:
        raise CatalogueError(f"{where}: nominal value {nominal:g} is outside its range [{low:g}, {high:g}]{unit}")
    targets = _check_targets(FACTOR_TARGETS[kind], entry.get("targets"), where, roles)
    rest = entry.get("rest_on_table", False)
    if not isinstance(rest, bool) or (rest and not (kind == "geom_size" and component == "z")):
        raise CatalogueError(f"{where}: 'rest_on_table' is a boolean and only meaningful for geom_size along z")
    group = entry.get("group", name)
    if not isinstance(group, str):
        raise CatalogueError(f"{where}: 'group' must be a string, got {group!r}")
    return Factor(name=name, group=group, kind=kind, targets=targets, low=low, high=high, nominal=nominal,
                  scale=scale, component=component, rest_on_table=rest, description=str(entry.get("description", "")))


def targets_key(targets: Mapping[str, Any]) -> tuple:
    """A hashable form of a target selector, so factors acting on the same targets can be grouped."""
    return tuple(sorted((k, tuple(v) if isinstance(v, (list, tuple)) else v) for k, v in targets.items()))


def _check_colour_groups(factors: list[Factor], source: str) -> None:
    """A geom colour is hue + saturation + value of the same targets: all three, once each."""
    groups: dict[tuple, list[Factor]] = {}
    for f in factors:
        if f.kind == "geom_colour":
            groups.setdefault(targets_key(f.targets), []).append(f)
    for members in groups.values():
        channels = sorted(f.component for f in members)
        if channels != ["hue", "saturation", "value"]:
            raise CatalogueError(
                f"{source}: geom_colour factors {', '.join(f.name for f in members)} share targets but have channels "
                f"{channels}; a colour needs exactly one hue, one saturation and one value factor on the same targets")
