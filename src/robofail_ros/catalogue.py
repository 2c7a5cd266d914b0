"""Perturbation catalogue: the adversary's action space, loaded from YAML and validated.

Perturbations are data, not code, so that a team can audit a new condition by
editing `config/perturbations/<task>.yaml`. Validation happens at load time and
every error names the offending entry and what would have been accepted: a typo
in a catalogue must never surface an hour into an audit.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from robofail_ros.paths import CONFIG_DIR

#: Every kind of live-model edit we know how to apply, with the fields it needs.
KIND_FIELDS: dict[str, dict[str, str]] = {
    "geom_rgba": {"rgba": "4 numbers in [0, 1]"},
    "light_diffuse": {"diffuse": "3 numbers in [0, 1]"},
    "light_intensity": {"scale": "a number in (0, 1000]"},
    "camera_pose": {"offset": "3 numbers (metres, world frame)"},
    "geom_size": {"size": "a list of positive numbers (MuJoCo half-extents)"},
    "body_mass": {"scale": "a number in (0, 1000]"},
    "geom_friction": {"scale": "a number in (0, 1000]"},
}

#: Kinds that change only what a camera sees (the physics is untouched): a policy that reads no image cannot
#: be affected by them, which is what the zoo's comparison across modalities relies on (zoo/groups.py).
APPEARANCE_KINDS = frozenset({"geom_rgba", "light_diffuse", "light_intensity", "camera_pose"})

#: Largest multiplicative scale: beyond it a light, mass or friction overflows into nonsense.
MAX_SCALE = 1000.0

#: Target selectors a perturbation may use, per model element type; `role` names a part of the task (roles.py).
TARGET_KEYS = ("geoms", "geom_pattern", "geom_group", "bodies", "lights", "cameras", "role")

#: Which selector each kind needs.
KIND_TARGETS: dict[str, tuple[str, ...]] = {
    "geom_rgba": ("geoms", "geom_pattern"),
    "geom_size": ("geoms", "geom_pattern"),
    "geom_friction": ("geoms", "geom_pattern"),
    "light_diffuse": ("lights",),
    "light_intensity": ("lights",),
    "camera_pose": ("cameras",),
    "body_mass": ("bodies",),
}


class CatalogueError(ValueError):
    """A catalogue file or entry is malformed; the message says where and why."""


@dataclass(frozen=True)
class Perturbation:
    """One discrete adversary action: a named, reversible edit of the live model."""

    name: str
    kind: str
    group: str
    targets: Mapping[str, Any]
    params: Mapping[str, Any]
    rest_on_table: bool = False
    description: str = ""


@dataclass(frozen=True)
class Catalogue:
    """An ordered perturbation list for one task; the order is the action index."""

    task: str
    perturbations: tuple[Perturbation, ...]
    source: str = "<memory>"
    roles: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """The task's roles (roles.Role by name, defaults included) that `targets: {role: ...}` refer to."""
    _index: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {p.name: i for i, p in enumerate(self.perturbations)})

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.perturbations]

    def __len__(self) -> int:
        return len(self.perturbations)

    def index(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            raise CatalogueError(unknown_name_message("perturbation", name, self.names)) from None

    def get(self, name: str) -> Perturbation:
        return self.perturbations[self.index(name)]

    def resolve(self, names: Sequence[str]) -> list[Perturbation]:
        """Map names to perturbations, rejecting unknown ones with the list of known names."""
        return [self.get(n) for n in names]


def unknown_name_message(what: str, name: object, known: Sequence[str]) -> str:
    """An error text that names the bad value, the closest matches and everything accepted."""
    close = difflib.get_close_matches(str(name), list(known), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return f"unknown {what} {name!r}{hint}; known: {', '.join(known)}"


def catalogue_path(task: str) -> Path:
    return CONFIG_DIR / "perturbations" / f"{task.lower()}.yaml"


def available_tasks() -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / "perturbations").glob("*.yaml"))


def load_catalogue(task_or_path: str | Path) -> Catalogue:
    """Load and validate a catalogue given a task name (`Lift`) or a YAML path."""
    path = Path(task_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = catalogue_path(str(task_or_path))
        if not path.exists():
            raise CatalogueError(
                unknown_name_message("task", task_or_path, available_tasks())
                + " (catalogues live in config/perturbations/)"
            )
    return parse_catalogue(read_catalogue_yaml(path), source=str(path))


def read_catalogue_yaml(path: Path) -> Any:
    """The parsed YAML of a catalogue file, or a CatalogueError that says why it cannot be read."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise CatalogueError(f"cannot read catalogue {path}: {exc.strerror}") from None
    except ValueError as exc:  # not UTF-8 (UnicodeDecodeError), or a NUL character in the path
        raise CatalogueError(f"cannot read catalogue {str(path)!r}: {exc}") from None
    try:
        return yaml.safe_load(text)
    except RecursionError:
        raise CatalogueError(f"{path}: not valid YAML: nested too deeply") from None
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path}: not valid YAML: {exc}") from None


def parse_catalogue(data: Any, source: str = "<memory>") -> Catalogue:
    """Validate a catalogue already parsed from YAML."""
    if not isinstance(data, dict):
        raise CatalogueError(f"{source}: top level must be a mapping with 'task' and 'perturbations'")
    unknown = set(data) - {"task", "perturbations", "description", "factors", "roles"}
    if unknown:
        raise CatalogueError(f"{source}: unknown top-level key(s) {sorted(unknown, key=str)}; "
                             "accepted: task, roles, perturbations, factors, description")
    task = data.get("task")
    if not isinstance(task, str) or not task:
        raise CatalogueError(f"{source}: 'task' must be a robosuite task name such as Lift, got {task!r}")
    entries = data.get("perturbations")
    if not isinstance(entries, list) or not entries:
        raise CatalogueError(f"{source}: 'perturbations' must be a non-empty list")
    from robofail_ros.roles import parse_roles  # roles.py builds on this module's errors

    roles = parse_roles(data.get("roles"), source)
    perturbations: list[Perturbation] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"{source}: perturbation #{i}"
        p = _parse_entry(entry, where, roles)
        if p.name in seen:
            raise CatalogueError(f"{where}: duplicate name {p.name!r}")
        seen.add(p.name)
        perturbations.append(p)
    if "factors" in data:  # the continuous scene space shares the file: a bad factor fails the whole load
        from robofail_ros.factors import parse_factors

        parse_factors(task, data["factors"], source=source, roles=roles)
    return Catalogue(task=task, perturbations=tuple(perturbations), source=source, roles=roles)


_ENTRY_KEYS = {"name", "kind", "group", "targets", "rest_on_table", "description"}


def _parse_entry(entry: Any, where: str, roles: Mapping[str, Any]) -> Perturbation:
    if not isinstance(entry, dict):
        raise CatalogueError(f"{where}: must be a mapping, got {type(entry).__name__}")
    name = entry.get("name")
    if (not isinstance(name, str) or not name.isascii() or not name.replace("_", "").isalnum()
            or not name[:1].isalpha()):
        raise CatalogueError(
            f"{where}: 'name' must be letters, digits and underscores starting with a letter "
            f"(it becomes a ROS service name), got {name!r}"
        )
    where = f"{where} ({name})"
    kind = entry.get("kind")
    if not isinstance(kind, str) or kind not in KIND_FIELDS:
        raise CatalogueError(f"{where}: " + unknown_name_message("kind", kind, list(KIND_FIELDS)))
    param_keys = set(KIND_FIELDS[kind])
    extra = set(entry) - _ENTRY_KEYS - param_keys
    if extra:
        raise CatalogueError(
            f"{where}: unknown key(s) {sorted(extra, key=str)} for kind {kind}; accepted: "
            f"{', '.join(sorted(_ENTRY_KEYS | param_keys))}"
        )
    params = {}
    for key, expected in KIND_FIELDS[kind].items():
        if key not in entry:
            raise CatalogueError(f"{where}: kind {kind} needs '{key}' ({expected})")
        params[key] = _check_param(kind, key, entry[key], where)
    targets = _check_targets(kind, entry.get("targets"), where, roles)
    rest = entry.get("rest_on_table", False)
    if not isinstance(rest, bool) or (rest and kind != "geom_size"):
        raise CatalogueError(f"{where}: 'rest_on_table' is a boolean and only meaningful for geom_size")
    group = entry.get("group", name)
    if not isinstance(group, str):
        raise CatalogueError(f"{where}: 'group' must be a string, got {group!r}")
    return Perturbation(
        name=name, kind=kind, group=group, targets=targets, params=params,
        rest_on_table=rest, description=str(entry.get("description", "")),
    )


def _finite_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _numbers(value: Any) -> list[float] | None:
    if not isinstance(value, (list, tuple)):
        return None
    if not all(_finite_number(v) for v in value):
        return None
    return [float(v) for v in value]


def _check_param(kind: str, key: str, value: Any, where: str) -> Any:
    expected = KIND_FIELDS[kind][key]
    bad = CatalogueError(f"{where}: '{key}' must be {expected}, got {value!r}")
    if key == "scale":
        if not _finite_number(value) or not 0 < value <= MAX_SCALE:
            raise bad
        return float(value)
    numbers = _numbers(value)
    if numbers is None:
        raise bad
    if key == "rgba" and (len(numbers) != 4 or not all(0 <= v <= 1 for v in numbers)):
        raise bad
    if key == "diffuse" and (len(numbers) != 3 or not all(0 <= v <= 1 for v in numbers)):
        raise bad
    if key == "offset" and len(numbers) != 3:
        raise bad
    if key == "size" and (not 1 <= len(numbers) <= 3 or not all(v > 0 for v in numbers)):
        raise bad
    return tuple(numbers)


def _check_targets(kind: str, targets: Any, where: str, roles: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Validated target selectors of one perturbation or factor; `roles` are the file's (None: the defaults)."""
    if not isinstance(targets, dict) or not targets:
        raise CatalogueError(
            f"{where}: 'targets' must be a mapping using one of {', '.join(KIND_TARGETS[kind])}, or role"
        )
    extra = set(targets) - set(TARGET_KEYS)
    if extra:
        raise CatalogueError(f"{where}: unknown target key(s) {sorted(extra, key=str)}; accepted: {', '.join(TARGET_KEYS)}")
    if "role" in targets:
        from robofail_ros.roles import check_role_target, parse_roles

        if len(targets) != 1:
            raise CatalogueError(f"{where}: targets.role names the whole target and takes no other selector, "
                                 f"got {', '.join(sorted(map(str, targets)))}")
        roles = roles if roles is not None else parse_roles(None, where)
        return {"role": check_role_target(kind, targets["role"], roles, where)}
    if not any(k in targets for k in KIND_TARGETS[kind]):
        raise CatalogueError(f"{where}: kind {kind} selects its targets with {' or '.join(KIND_TARGETS[kind])}")
    # A selector of another element type would be bound instead of the kind's own (geoms before bodies).
    unused = set(targets) - set(KIND_TARGETS[kind]) - ({"geom_group"} if "geom_pattern" in KIND_TARGETS[kind] else set())
    if unused:
        raise CatalogueError(f"{where}: kind {kind} selects its targets with {' or '.join(KIND_TARGETS[kind])}; "
                             f"it cannot use {', '.join(sorted(unused))}")
    out: dict[str, Any] = {}
    for key, value in targets.items():
        if key in ("geoms", "bodies", "cameras"):
            if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
                raise CatalogueError(f"{where}: targets.{key} must be a non-empty list of names, got {value!r}")
            out[key] = tuple(value)
        elif key == "lights":
            if not isinstance(value, list) or not value or not all(
                isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool) and v >= 0) for v in value
            ):
                raise CatalogueError(f"{where}: targets.lights must be a list of light names or indices, got {value!r}")
            out[key] = tuple(value)
        elif key == "geom_pattern":
            import re

            try:
                if not isinstance(value, str):  # a bytes pattern compiles but cannot match names
                    raise TypeError
                re.compile(value)
            except (re.error, TypeError, OverflowError, RecursionError):
                raise CatalogueError(f"{where}: targets.geom_pattern must be a regular expression, got {value!r}") from None
            out[key] = value
        elif key == "geom_group":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 5:
                raise CatalogueError(f"{where}: targets.geom_group must be an integer 0-5, got {value!r}")
            out[key] = value
    return out
