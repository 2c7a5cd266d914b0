"""Benchmark: applying a perturbation by editing the live MuJoCo model vs rebuilding from edited XML.

What it measures
    * live route (ours): `Simulation.set_perturbations([name])` followed by
      `set_perturbations([])` -- apply and undo one catalogue perturbation in place
      (this includes the `mj_forward` that `set_perturbations` runs, and for a mass
      change the `mj_setConst` calls). Timed per apply+undo pair, many repetitions,
      median in microseconds.
    * XML route (the reference code's): read the robosuite model's XML
      (`env.sim.model.get_xml()`), edit the relevant attribute in the text
      (e.g. the `table_visual` geom's rgba), then `env.reset_from_xml_string(xml)`.
      Timed per rebuild (get_xml + text edit + reset_from_xml_string), a handful of
      repetitions, median in milliseconds.

Why
    The audit applies a perturbation before every episode. The design claim (perturb.py,
    docs/method.md) is that live edits cost microseconds where the XML route costs
    far more and, in addition, skips robosuite's object placement (the cube is left
    at the world origin instead of on the table). Both are measured here in the
    same process, on the same robosuite environment, and the cube position after
    each route is printed so the placement loss is visible, not just asserted.

The comparison is deliberately conservative: one XML rebuild (which only applies
a perturbation; undoing it needs another rebuild) is compared with a live apply
*and* undo. The XML route is timed twice: on the audit Simulation's own env, which
has no offscreen renderer (so no rendering context is rebuilt), and on a robosuite
env built as an image-policy rollout builds it (offscreen renderer + 84x84
agentview camera obs), where robosuite rebuilds its render context and renders
the reset observation. The cost of a fresh 84x84 `mujoco.Renderer` for the
replaced model -- which the audit would need before it could render the perturbed
scene -- is timed separately and printed as an extra line, outside the ratios.

A last row times the continuous scene space (issue 11, target <= 200 µs median): apply a random scene of ALL
factors (uniform in the unit cube, a fresh one each repetition) and clear it, on the live model; once as the
edit alone (`perturber.set([], scene)` + `perturber.clear()`, what the target names) and once through
`Simulation.set_perturbations`, which adds the `mj_forward` an episode needs before its first render.

Run: .venv/bin/python bench/perturb_apply.py [--live-reps 300] [--xml-reps 5] [--scenes 1000] [--no-camera-env]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import platform
import re
import statistics
import time
from pathlib import Path

import robofail_ros  # noqa: F401  (sets MUJOCO_GL before mujoco is imported)

import mujoco
import numpy as np

from robofail_ros.sim import SimConfig, Simulation

#: One catalogue perturbation per kind the brief asks for: colour, size, light, mass.
DEFAULT_PERTURBATIONS = ("table_red", "cube_size_large", "light_red", "cube_heavy")

#: MuJoCo's default geom density (kg/m^3), used when the XML gives none.
DEFAULT_DENSITY = 1000.0


# -- XML text editing (the reference route) ----------------------------------------------------
def _tag_span(xml: str, tag: str, name: str) -> tuple[int, int]:
    m = re.search(rf'<{tag}\b[^>]*\bname="{re.escape(name)}"[^>]*?/?>', xml)
    if m is None:
        raise KeyError(f"no <{tag} name={name!r}> in the XML")
    return m.span()


def _set_attr(xml: str, span: tuple[int, int], attr: str, value: str | None) -> str:
    """Set (or with value None, remove) one attribute of the tag at `span`."""
    start, end = span
    tag = xml[start:end]
    tag = re.sub(rf'\s{attr}="[^"]*"', "", tag)
    if value is not None:
        close = "/>" if tag.endswith("/>") else ">"
        tag = tag[: -len(close)].rstrip() + f' {attr}="{value}"' + close
    return xml[:start] + tag + xml[end:]


def _fmt(values) -> str:
    return " ".join(f"{float(v):g}" for v in values)


def edit_xml(xml: str, sim: Simulation, name: str) -> str:
    """The XML text with perturbation `name` applied, done the way the reference code does it."""
    p = next(p for p in sim.catalogue.perturbations if p.name == name)
    bound = sim.perturber._bound[name]
    model = sim.model
    if p.kind in ("geom_rgba", "geom_size"):
        for g in bound.indices:
            gname = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g)
            if p.kind == "geom_rgba":
                xml = _set_attr(xml, _tag_span(xml, "geom", gname), "rgba", _fmt(p.params["rgba"]))
                # Same as the live route: a material would tint/override the colour.
                xml = _set_attr(xml, _tag_span(xml, "geom", gname), "material", None)
            else:
                xml = _set_attr(xml, _tag_span(xml, "geom", gname), "size", _fmt(p.params["size"]))
        return xml
    if p.kind == "light_diffuse":
        lights = list(re.finditer(r"<light\b[^>]*?/?>", xml))
        for i in bound.indices:
            xml = _set_attr(xml, lights[i].span(), "diffuse", _fmt(p.params["diffuse"]))
            lights = list(re.finditer(r"<light\b[^>]*?/?>", xml))
        return xml
    if p.kind == "body_mass":
        # Scale the density of the body's mass-bearing geoms: mass and inertia scale together.
        for b in bound.indices:
            for g in range(model.ngeom):
                if model.geom_bodyid[g] != b:
                    continue
                gname = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g)
                span = _tag_span(xml, "geom", gname)
                tag = xml[span[0]:span[1]]
                if re.search(r'\smass="0"', tag):
                    continue  # a visual geom
                m = re.search(r'\sdensity="([^"]*)"', tag)
                density = float(m.group(1)) if m else DEFAULT_DENSITY
                xml = _set_attr(xml, span, "density", f"{density * p.params['scale']:g}")
        return xml
    raise NotImplementedError(f"no XML edit for perturbation kind {p.kind!r} ({name})")


def check_edit(env, sim: Simulation, name: str) -> str:
    """Read back, from the rebuilt model, the value the edit should have changed."""
    p = next(p for p in sim.catalogue.perturbations if p.name == name)
    bound = sim.perturber._bound[name]
    m = env.sim.model._model
    i = bound.indices[0]
    if p.kind == "geom_rgba":
        return f"rgba={_fmt(m.geom_rgba[i])}"
    if p.kind == "geom_size":
        return f"size={_fmt(m.geom_size[i])}"
    if p.kind == "light_diffuse":
        return f"diffuse={_fmt(m.light_diffuse[i])}"
    if p.kind == "body_mass":
        return f"mass={m.body_mass[i]:.4g}"
    return "?"


def cube_pos(env) -> np.ndarray:
    adr = env.sim.model.get_joint_qpos_addr(env.cube.joints[0])
    return np.array(env.sim.data.qpos[adr[0]:adr[0] + 3])


# -- timing ------------------------------------------------------------------------------------
def time_live(sim: Simulation, name: str, reps: int) -> list[float]:
    sim.set_perturbations([name])  # warm-up: first touch snapshots the fields
    sim.set_perturbations([])
    out = []
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        sim.set_perturbations([name])
        sim.set_perturbations([])
        out.append((time.perf_counter_ns() - t0) / 1e3)  # microseconds
    return out


def time_random_scenes(sim: Simulation, reps: int, seed: int) -> tuple[list[float], list[float]]:
    """Microseconds per apply + clear of a fresh random scene of all factors: (edit alone, via set_perturbations)."""
    rng = np.random.default_rng(seed)
    scenes = [sim.space.random_scene(rng) for _ in range(2 * reps + 2)]
    edit, full = [], []
    sim.perturber.set([], scenes[-1])  # warm-up: first touch snapshots the fields
    sim.perturber.clear()
    for scene in scenes[:reps]:
        t0 = time.perf_counter_ns()
        sim.perturber.set([], scene)
        sim.perturber.clear()
        edit.append((time.perf_counter_ns() - t0) / 1e3)
    for scene in scenes[reps:2 * reps]:
        t0 = time.perf_counter_ns()
        sim.set_perturbations([], scene)
        sim.set_perturbations([])
        full.append((time.perf_counter_ns() - t0) / 1e3)
    return edit, full


def time_xml(env, sim: Simulation, name: str, reps: int) -> tuple[list[float], str]:
    """Median-ready times (ms) of `reps` XML-route applications of `name` on robosuite env `env`."""
    nominal_xml = env.sim.model.get_xml()
    out = []
    readback = ""
    for _ in range(reps):
        t0 = time.perf_counter()
        xml = env.sim.model.get_xml()
        xml = edit_xml(xml, sim, name)
        env.reset_from_xml_string(xml)
        out.append((time.perf_counter() - t0) * 1e3)  # milliseconds
        readback = check_edit(env, sim, name)
        # Put the nominal model back for the next repetition (untimed).
        env.reset_from_xml_string(nominal_xml)
    return out, readback


def make_camera_env(seed: int):
    """A robosuite Lift env as an image-policy rollout makes it: offscreen renderer + agentview camera obs."""
    import robosuite

    with contextlib.redirect_stdout(io.StringIO()):
        env = robosuite.make(
            "Lift", robots="Panda", has_renderer=False, has_offscreen_renderer=True, use_camera_obs=True,
            camera_names="agentview", camera_heights=84, camera_widths=84, hard_reset=False,
            horizon=100, control_freq=20, ignore_done=True, seed=seed,
        )
    env.reset()
    return env


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--perturbations", nargs="+", default=list(DEFAULT_PERTURBATIONS),
                    help="catalogue names (kinds geom_rgba, geom_size, light_diffuse, body_mass); default: %(default)s")
    ap.add_argument("--live-reps", type=int, default=300, help="live apply+undo pairs per perturbation")
    ap.add_argument("--xml-reps", type=int, default=5, help="XML rebuilds per perturbation and environment")
    ap.add_argument("--scenes", type=int, default=1000, help="random scenes of all factors applied and cleared")
    ap.add_argument("--no-camera-env", action="store_true",
                    help="skip the XML route on a robosuite env with an offscreen renderer and camera obs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()
    for noisy in ("robosuite", "robosuite_logs"):
        logging.getLogger(noisy).setLevel(logging.ERROR)

    load_before = os.getloadavg()[0]
    sim = Simulation(SimConfig(task="Lift"), seed=args.seed)
    for n in args.perturbations:
        if n not in sim.catalogue.names:
            raise SystemExit(f"unknown perturbation {n!r}; known: {', '.join(sim.catalogue.names)}")

    # 1. Live route, on the live model (must run before the XML route replaces env.sim).
    live = {n: time_live(sim, n, args.live_reps) for n in args.perturbations}
    scene_edit, scene_full = time_random_scenes(sim, args.scenes, args.seed)
    sim.reset(args.seed)
    live_cube = cube_pos(sim.env)

    # 2. XML route on the same robosuite env (no renderer). Afterwards `sim.model` is no longer
    #    the env's model (env.sim was replaced); it is only used for names and indices below.
    xml, readback = {}, {}
    xml["audit_env"] = {}
    for n in args.perturbations:
        xml["audit_env"][n], readback[n] = time_xml(sim.env, sim, n, args.xml_reps)
    xml_cube = cube_pos(sim.env)

    # 2b. XML route on an env with an offscreen renderer and camera obs: robosuite rebuilds its
    #     render context inside reset_from_xml_string and renders the reset observation.
    if not args.no_camera_env:
        cam_env = make_camera_env(args.seed)
        xml["camera_env"] = {n: time_xml(cam_env, sim, n, args.xml_reps)[0] for n in args.perturbations}
        cam_env.close()

    # 3. What the audit would pay on top of the XML route: a renderer for the new model, first frame.
    renderer_ms = []
    for _ in range(args.xml_reps):
        t0 = time.perf_counter()
        r = mujoco.Renderer(sim.env.sim.model._model, 84, 84)
        r.update_scene(sim.env.sim.data._data, camera="agentview")
        r.render()
        renderer_ms.append((time.perf_counter() - t0) * 1e3)
        r.close()

    rows = []
    for n in args.perturbations:
        lm = statistics.median(live[n])
        kind = next(p.kind for p in sim.catalogue.perturbations if p.name == n)
        row = {"perturbation": n, "kind": kind, "live_median_us": lm,
               "live_p90_us": float(np.percentile(live[n], 90)), "live_reps": len(live[n]),
               "xml_readback": readback[n]}
        for env_name, times in xml.items():
            xm = statistics.median(times[n])
            row[f"xml_{env_name}_median_ms"] = xm
            row[f"xml_{env_name}_min_max_ms"] = [min(times[n]), max(times[n])]
            row[f"ratio_{env_name}"] = xm * 1e3 / lm
        rows.append(row)
    result = {
        "machine": f"{platform.node()} {platform.machine()} cpus={os.cpu_count()}",
        "live_reps": args.live_reps, "xml_reps": args.xml_reps, "rows": rows,
        "renderer_rebuild_median_ms": statistics.median(renderer_ms),
        "random_scene": {"factors": sim.space.dim, "scenes": args.scenes,
                         "edit_median_us": statistics.median(scene_edit),
                         "edit_p90_us": float(np.percentile(scene_edit, 90)),
                         "set_perturbations_median_us": statistics.median(scene_full),
                         "set_perturbations_p90_us": float(np.percentile(scene_full, 90))},
        "cube_pos_after_live_reset": live_cube.tolist(),
        "cube_pos_after_xml_reset": xml_cube.tolist(),
        "loadavg_before_after": [load_before, os.getloadavg()[0]],
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    sim.close()

    cam = "camera_env" in xml
    print()
    print("perturbation apply: live-model edit vs XML rebuild (Lift/Panda, same process)")
    print(f"live    = set_perturbations([p]) + set_perturbations([]) (apply AND undo), median of {args.live_reps}")
    print(f"XML     = get_xml + text edit + reset_from_xml_string (apply only), median of {args.xml_reps}, "
          f"on the audit's env (no renderer)")
    if cam:
        print("XML cam = the same on a robosuite env with offscreen renderer + 84x84 agentview camera obs")
    head = f"{'perturbation':<16} {'kind':<14} {'live µs':>8} {'p90 µs':>7} {'XML ms':>7} {'XML/live':>9}"
    if cam:
        head += f" {'XML cam ms':>10} {'cam/live':>9}"
    print(head + "  XML read-back")
    for r in rows:
        line = (f"{r['perturbation']:<16} {r['kind']:<14} {r['live_median_us']:>8.1f} {r['live_p90_us']:>7.1f} "
                f"{r['xml_audit_env_median_ms']:>7.1f} {r['ratio_audit_env']:>8.0f}x")
        if cam:
            line += f" {r['xml_camera_env_median_ms']:>10.1f} {r['ratio_camera_env']:>8.0f}x"
        print(line + f"  {r['xml_readback']}")
    rs = result["random_scene"]
    print(f"{'random scene':<16} {str(rs['factors']) + ' factors':<14} {rs['edit_median_us']:>8.1f} "
          f"{rs['edit_p90_us']:>7.1f}  apply + clear a fresh random scene of all factors, median of {rs['scenes']} "
          f"(target <= 200 µs); via set_perturbations (+ mj_forward): median {rs['set_perturbations_median_us']:.1f} µs, "
          f"p90 {rs['set_perturbations_p90_us']:.1f}")
    print(f"after the XML route the audit also needs a new 84x84 mujoco.Renderer (+ first frame): median "
          f"{result['renderer_rebuild_median_ms']:.1f} ms (not in the ratios)")
    print(f"cube position after live route + reset   : {_fmt(np.round(live_cube, 4))}  (placed on the table)")
    print(f"cube position after reset_from_xml_string: {_fmt(np.round(xml_cube, 4))}  "
          f"(XML route loses the object placement: robosuite's deterministic reset skips it)")
    print(f"1-min load average before -> after: {load_before:.2f} -> {result['loadavg_before_after'][1]:.2f} "
          f"(this process adds ~1; more = other load on the {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
