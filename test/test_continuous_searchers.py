"""The searchers over the factor box: what each promises, on fake outcomes whose truth is known (fast), then each
in a tiny real audit that writes scenes, decisions and the report, and resumes without repeating an episode."""
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy.stats import qmc

from robofail_ros.audit import AuditInterrupted, run_audit
from robofail_ros.catalogue import CatalogueError, catalogue_path
from robofail_ros.config import AuditConfig, PPOConfig, SceneSearchConfig, episode_seed
from robofail_ros.episode import FAILURE, SUCCESS, EpisodeRecord
from robofail_ros.factors import parse_factors
from robofail_ros.record import LOG_NAME, AuditLog, Recorder, load_log
from robofail_ros.searchers import make_searcher
from robofail_ros.searchers.base import SearchContext
from robofail_ros.searchers.boundary import choose_batch, straddle
from robofail_ros.searchers.scenes import unit_points

# -- fake outcomes on a small factor box (no simulator) ------------------------------------------------------------
#: Three factors; the fake policy fails exactly when the light is below THRESHOLD x nominal.
SPACE = parse_factors("Lift", [
    {"name": "light_intensity", "kind": "light_intensity", "targets": {"lights": [0]}, "low": 0.1, "high": 3.0,
     "nominal": 1.0, "scale": "log"},
    {"name": "camera_yaw", "kind": "camera_orientation", "axis": "yaw", "targets": {"cameras": ["agentview"]},
     "low": -15.0, "high": 15.0, "nominal": 0.0},
    {"name": "cube_mass", "kind": "body_mass", "targets": {"bodies": ["cube_main"]}, "low": 0.1, "high": 30.0,
     "nominal": 1.0, "scale": "log"},
])
THRESHOLD = 0.5
ROOT = Path(__file__).resolve().parents[1]
THRESHOLD_UNIT = float(SPACE.get("light_intensity").to_unit(THRESHOLD))


def fake_record(job) -> EpisodeRecord:
    failed = job.scene["light_intensity"] < THRESHOLD
    steps = 100 if failed else 40 + int(abs(job.scene["camera_yaw"]))  # a turned camera slows success down
    return EpisodeRecord(episode_id=job.episode_id, seed=job.seed, perturbations=list(job.perturbations),
                         outcome=FAILURE if failed else SUCCESS, steps=steps,
                         reward=1000.0 if failed else -100.0 / steps, wall_time=0.0, policy_id="fake", task="Lift",
                         searcher=job.searcher, scene=dict(job.scene))


@dataclass
class FakeVecEnv:
    num_envs: int = 2


class Interrupted(Exception):
    """Stands for a crash or Ctrl-C after some episodes."""


class FakeContext(SearchContext):
    """Runs jobs by drawing fake outcomes instead of simulating, recording them like the real worker pool;
    `stop_after` episodes in total it raises, as a crash would."""

    stop_after: int | None = None

    def run_jobs(self, jobs) -> None:
        for j in jobs:
            if self.stop_after is not None and len(self.recorder.records) >= self.stop_after:
                raise Interrupted
            self.recorder.add(fake_record(j))


def run_fake(folder: Path, searcher: str, budget: int, stop_after: int | None = None, **search) -> list[EpisodeRecord]:
    """Run (or resume) a continuous searcher on fake outcomes in `folder`; returns the whole log."""
    config = AuditConfig(searcher=searcher, episodes=budget, control_episodes=5, workers=2, seed=3,
                         search=SceneSearchConfig(**search))
    log_path = folder / LOG_NAME
    loaded = load_log(log_path)
    with AuditLog(log_path) as audit_log:
        ctx = FakeContext(config, FakeVecEnv(), Recorder(audit_log, loaded.episodes), audit_log, [], folder,
                          space=SPACE, snapshots=loaded.snapshots)
        ctx.stop_after = stop_after
        try:
            make_searcher(searcher).run(ctx, budget)
        except Interrupted:
            pass
    return load_log(log_path).episodes


def test_every_record_carries_the_full_scene_and_a_seed_of_the_control_pool(tmp_path):
    for searcher in ("sobol", "cmaes", "boundary"):
        records = run_fake(tmp_path / searcher, searcher, 20, batch=4, initial_design=8)
        assert len(records) == 20
        for i, r in enumerate(records):
            assert set(r.scene) == set(SPACE.names) and r.perturbations == []
            assert r.episode_id == f"{searcher}-{i:06d}" and r.seed == episode_seed(3, i, 5)


@pytest.mark.parametrize("searcher", ["sobol", "cmaes", "boundary"])
def test_with_fresh_initial_states_every_searched_experiment_starts_from_a_state_of_its_own(tmp_path, searcher):
    pool = {episode_seed(3, i, 5) for i in range(5)}
    records = run_fake(tmp_path / "fresh", searcher, 40, batch=8, initial_design=16, initial_states="fresh")
    seeds = [r.seed for r in records]
    assert len(set(seeds)) == 40 and not set(seeds) & pool  # none shared, none a control state
    again = run_fake(tmp_path / "again", searcher, 40, batch=8, initial_design=16, initial_states="fresh")
    assert [r.seed for r in again] == seeds  # the audit seed fixes them: a replay reruns the same states
    other = run_fake(tmp_path / "other", "sobol" if searcher != "sobol" else "cmaes", 8, batch=8,
                     initial_states="fresh")
    assert not {r.seed for r in other} & set(seeds)  # another searcher of the same audit seed has its own
    pooled = run_fake(tmp_path / "pool", searcher, 40, batch=8, initial_design=16, initial_states="pool")
    assert {r.seed for r in pooled} == pool


def test_a_resumed_fresh_state_audit_reruns_the_states_it_would_have_run(tmp_path):
    whole = run_fake(tmp_path / "whole", "boundary", 40, batch=8, initial_design=16, initial_states="fresh")
    run_fake(tmp_path / "resumed", "boundary", 40, batch=8, initial_design=16, initial_states="fresh", stop_after=27)
    resumed = run_fake(tmp_path / "resumed", "boundary", 40, batch=8, initial_design=16, initial_states="fresh")
    assert [(r.episode_id, r.seed) for r in resumed] == [(r.episode_id, r.seed) for r in whole]


def test_a_log_from_before_fresh_states_resumes_with_the_pool_it_was_started_with():
    config = AuditConfig(searcher="boundary", search=SceneSearchConfig(initial_states="fresh")).to_json()
    assert AuditConfig.from_json(config).search.initial_states == "fresh"
    del config["search"]["initial_states"]  # as written before the setting existed
    assert AuditConfig.from_json(config).search.initial_states == "pool"
    with pytest.raises(ValueError, match="initial_states must be one of pool, fresh, got 'shared'"):
        SceneSearchConfig(initial_states="shared")


def test_sobol_points_are_the_scrambled_sobol_sequence_of_the_audit_seed(tmp_path):
    records = run_fake(tmp_path, "sobol", 32)
    u = unit_points(SPACE, records)
    assert u == pytest.approx(qmc.Sobol(SPACE.dim, scramble=True, rng=3).random(32), abs=1e-12)
    # Sobol's balance: the first 2^k points put exactly one point in each of 2^k equal slices of every factor.
    for column in u.T:
        assert sorted(np.floor(column * 32).astype(int)) == list(range(32))


def test_cmaes_moves_its_search_towards_the_failures(tmp_path):
    run_fake(tmp_path, "cmaes", 6 * 8, batch=8)
    generations = [s for s in load_log(tmp_path / LOG_NAME).snapshots if s["searcher"] == "cmaes"]
    assert [s["generation"] for s in generations] == [1, 2, 3, 4, 5, 6]
    light = [s["mean_unit"][SPACE.index("light_intensity")] for s in generations]
    assert light[-1] < THRESHOLD_UNIT < 0.5  # started at the centre, ended in the failing region
    assert generations[-1]["mean_scene"]["light_intensity"] < THRESHOLD


def test_cmaes_resumed_mid_generation_replays_to_the_same_state(tmp_path):
    whole = run_fake(tmp_path / "whole", "cmaes", 40, batch=8)
    run_fake(tmp_path / "resumed", "cmaes", 40, batch=8, stop_after=21)  # killed inside generation 3
    resumed = run_fake(tmp_path / "resumed", "cmaes", 40, batch=8)
    assert [(r.episode_id, r.seed, r.scene) for r in resumed] == [(r.episode_id, r.seed, r.scene) for r in whole]
    state = [{k: s[k] for k in ("generation", "mean_unit", "sigma")}
             for s in load_log(tmp_path / "whole" / LOG_NAME).snapshots]
    replayed = [{k: s[k] for k in ("generation", "mean_unit", "sigma")}
                for s in load_log(tmp_path / "resumed" / LOG_NAME).snapshots]
    assert replayed == state  # each generation logged once, with identical mean and step size


def test_the_boundary_searcher_spends_its_batches_near_the_threshold_and_logs_why(tmp_path):
    records = run_fake(tmp_path, "boundary", 16 + 4 * 8, batch=8, initial_design=16, explore_share=0.25)
    u = unit_points(SPACE, records)[:, SPACE.index("light_intensity")]
    distance = np.abs(u - THRESHOLD_UNIT)
    design, searched = distance[:16], distance[16:]
    assert np.median(searched) < 0.5 * np.median(design)
    batches = [s for s in load_log(tmp_path / LOG_NAME).snapshots if "chosen" in s]
    assert len(batches) == 4 and batches[0]["optimised"] and "Gaussian-process classifier" in batches[0]["model"]
    nominal = SPACE.to_unit(SPACE.nominal)
    for b in batches:
        rules = [c["rule"] for c in b["chosen"]]
        checks = rules.count("check")  # at most a quarter of the batch (check_share), after straddle and explore
        lines = rules.count("line")  # at most an eighth (line_share), last
        explore = round((8 - checks - lines) * 0.25)
        assert checks <= 2 and lines <= 1 and rules == (["straddle"] * (8 - checks - lines - explore)
                                                        + ["explore"] * explore + ["check"] * checks + ["line"] * lines)
        for c in b["chosen"]:
            assert 0.0 <= c["p_low"] <= c["p"] <= c["p_high"] <= 1.0 and c["latent_sd"] > 0
    straddling = [c for b in batches for c in b["chosen"] if c["rule"] == "straddle"]
    assert np.median([abs(c["p"] - 0.5) for c in straddling]) < 0.3
    checked = [np.asarray(c["unit"]) for b in batches for c in b["chosen"] if c["rule"] == "check"]
    assert checked  # the light threshold was claimed, so it was tested on its line: at its failing end, below the
    # threshold, and (while its interval was wide) inside the interval, on either side
    for u in checked:
        assert np.flatnonzero(u != nominal).tolist() == [SPACE.index("light_intensity")]
    assert min(u[0] for u in checked) < THRESHOLD_UNIT


def test_a_claimed_threshold_is_checked_once_on_its_line_at_the_failing_end_of_its_interval():
    from robofail_ros.continuous.surrogate import FailureModel
    from robofail_ros.continuous.thresholds import factor_curves
    from robofail_ros.searchers.claims import CHECK_DRAWS, CHECK_TOLERANCE, claim_checks

    X = qmc.Sobol(3, scramble=True, rng=0).random(128)
    model = FailureModel(3, seed=0).fit(X, X[:, 0] < THRESHOLD_UNIT)  # fails when the light is dim
    _, claims = factor_curves(model, SPACE, draws=CHECK_DRAWS, seed=0)  # the claims as the searcher reads them
    claim = next(t for t in claims if t.factor == "light_intensity")
    assert claim.direction == "below"
    checks = claim_checks(model, SPACE, X, seed=0, limit=1)
    nominal = SPACE.to_unit(SPACE.nominal)
    expected = nominal.copy()
    expected[0] = SPACE.get("light_intensity").to_unit(claim.ci_low)  # where the claim says it surely fails
    assert len(checks) == 1 and np.allclose(checks[0], expected)
    tested = expected.copy()
    tested[0] += 0.5 * CHECK_TOLERANCE  # an episode this close on the line tests it: no second check there
    assert not any(np.allclose(c, expected) for c in claim_checks(model, SPACE, np.vstack([X, tested]), seed=0))
    off_line = tested.copy()
    off_line[1] += 0.2  # the same light but another camera angle is not on the claim's line
    assert any(np.allclose(c, expected) for c in claim_checks(model, SPACE, np.vstack([X, off_line]), seed=0))


def test_a_claim_with_a_wide_interval_gets_episodes_inside_it_until_its_line_is_filled():
    """One episode at the failing end pins a deterministic step, not a failure that comes one time in three: the
    rest of a wide interval must get episodes of its own line too, spread out, and none once every value of the
    interval has one within CHECK_TOLERANCE; a pinned claim (narrower than PINNED_WIDTH) gets none inside."""
    from robofail_ros.continuous.surrogate import FailureModel
    from robofail_ros.continuous.thresholds import factor_curves, on_line
    from robofail_ros.searchers.claims import CHECK_DRAWS, CHECK_TOLERANCE, PINNED_WIDTH, claim_checks

    rng = np.random.default_rng(0)
    X = qmc.Sobol(3, scramble=True, rng=0).random(128)
    y = (X[:, 0] < THRESHOLD_UNIT) & (rng.random(len(X)) < 1 / 3)  # a third of the dim scenes fail
    model = FailureModel(3, seed=0).fit(X, y)
    _, claims = factor_curves(model, SPACE, draws=CHECK_DRAWS, seed=0)
    factor = SPACE.get("light_intensity")
    intervals = [sorted(float(factor.to_unit(v)) for v in (t.ci_low, t.ci_high)) for t in claims]
    assert {t.factor for t in claims} == {"light_intensity"}  # here an onset and, where chance stopped, a far edge
    assert all(high - low > PINNED_WIDTH for low, high in intervals)  # the coin leaves the claims wide
    nominal = SPACE.to_unit(SPACE.nominal)
    checks = claim_checks(model, SPACE, X, seed=0, limit=6)
    assert len(checks) == 6 and on_line(checks, nominal, 0).all()
    assert all(any(low - 1e-9 <= v <= high + 1e-9 for low, high in intervals) for v in checks[:, 0])
    assert np.diff(np.sort(checks[:, 0])).min() > CHECK_TOLERANCE  # spread over the intervals, not piled up
    line = np.repeat(nominal[None, :], 201, axis=0)
    line[:, 0] = np.linspace(0.0, 1.0, 201)  # every value of the line has an episode: nothing left to check
    assert len(claim_checks(model, SPACE, np.vstack([X, line]), seed=0, limit=6)) == 0

    with pytest.MonkeyPatch.context() as patch:  # were these claims pinned, only their failing ends would be run
        patch.setattr("robofail_ros.searchers.claims.PINNED_WIDTH", 1.0)
        assert len(claim_checks(model, SPACE, X, seed=0, limit=6)) <= len(claims)


def test_the_boundary_searcher_resumed_mid_batch_finishes_the_batch_it_chose(tmp_path):
    run_fake(tmp_path, "boundary", 32, batch=8, initial_design=8, stop_after=19)  # inside the second batch
    before = load_log(tmp_path / LOG_NAME)
    chosen = [c for s in before.snapshots if "chosen" in s for c in s["chosen"]]
    assert len(before.episodes) == 19 and len(chosen) == 16
    after = run_fake(tmp_path, "boundary", 32, batch=8, initial_design=8)
    ids = [r.episode_id for r in after]
    assert len(ids) == len(set(ids)) == 32 and ids[:19] == [r.episode_id for r in before.episodes]
    by_id = {r.episode_id: r for r in after}
    for c in chosen:  # the interrupted batch ran exactly the points it had chosen
        assert by_id[c["episode_id"]].scene == SPACE.scene(SPACE.from_unit(np.asarray(c["unit"])))


LIFT = parse_factors("Lift", yaml.safe_load(catalogue_path("Lift").read_text())["factors"])


def run_pocket(tmp_path: Path, relevant: tuple[str, ...], radius: float, episodes: int, seed: int = 0,
               **search) -> list:
    """The boundary searcher on a policy that works only while every `relevant` factor stays within `radius` (in
    unit coordinates) of nominal, in the 24-factor Lift box; returns the loaded log."""
    nominal = LIFT.to_unit(LIFT.nominal)
    index = [LIFT.index(n) for n in relevant]
    circular = np.isin(np.arange(LIFT.dim), LIFT.circular)

    def works(scene) -> bool:
        """Within `radius` of nominal on every relevant factor; hues measured around their circle, as colours are."""
        step = np.abs(LIFT.to_unit(LIFT.vector(scene)) - nominal)
        step = np.where(circular, np.minimum(step, 1.0 - step), step)
        return bool(step[index].max() < radius)

    class PocketContext(FakeContext):
        def run_jobs(self, jobs) -> None:
            for j in jobs:
                failed = not works(j.scene)
                self.recorder.add(EpisodeRecord(
                    episode_id=j.episode_id, seed=j.seed, perturbations=[], outcome=FAILURE if failed else SUCCESS,
                    steps=100 if failed else 50, reward=1000.0 if failed else -2.0, wall_time=0.0, policy_id="fake",
                    task="Lift", searcher=j.searcher, scene=dict(j.scene)))

    config = AuditConfig(searcher="boundary", episodes=episodes, control_episodes=10, workers=2, seed=seed,
                         search=SceneSearchConfig(**search))
    controls = [EpisodeRecord(f"control-{i:04d}", episode_seed(seed, i, 10), [], SUCCESS, 50, -2.0, 0.0, "fake",
                              "Lift", searcher="control") for i in range(10)]
    with AuditLog(tmp_path / LOG_NAME) as audit_log:
        ctx = PocketContext(config, FakeVecEnv(), Recorder(audit_log, controls), audit_log, [], tmp_path, space=LIFT)
        make_searcher("boundary").run(ctx, episodes)
    return load_log(tmp_path / LOG_NAME)


def test_the_boundary_searcher_finds_the_edge_of_a_small_working_region_around_nominal(tmp_path):
    """Like the vision policy on Lift: in a 24-factor box it works only near nominal, because three factors must all
    stay close to their nominal values (the rest do not matter): a random scene works with a chance of ~1%."""
    relevant = ("light_saturation", "light_intensity", "cube_value")
    loaded = run_pocket(tmp_path, relevant, 0.15, 160, batch=16, initial_design=32, candidates=1024)
    searched = [r for r in loaded.episodes if r.searcher == "boundary"]
    design, last = searched[:32], searched[-64:]
    assert not any(r.outcome == SUCCESS for r in design)  # the whole-box design never sees the working region ...
    assert 0.2 * len(last) <= sum(r.outcome == SUCCESS for r in last) <= 0.8 * len(last)  # ... the batches straddle it
    model = [s for s in loaded.snapshots if "chosen" in s][-1]["model"]
    shortest = model.split("most influential): ")[1].split(", ")[:3]
    assert {f.split()[0] for f in shortest} == set(relevant)


def test_the_reported_thresholds_are_the_edges_of_a_tight_working_region_in_many_factors(tmp_path):
    """The real vision policy's pattern: six factors each break it a few percent of their range from nominal, so
    P(failure) is ~1 almost everywhere in the box. The thresholds are read along each factor's line through
    nominal (others nominal); the searcher must put episodes on those lines, which whole-box and pulled-towards-
    nominal points almost never touch (before axis candidates, seeds 1-4: 5 to 8 of 9 edges within 5%, 2 to 8
    spurious thresholds; with them 9/9 on seeds 0 and 2-6, 7/9 on seed 1; docs/benchmarks.md §8c). Hue is a
    circle, so cube_hue has a tenth edge past the wrap. With the circular model, seeds 0-6 found 69 of 70 edges
    with 7 spurious thresholds (4 on seed 0); with claim checks (searchers/claims.py) and hyperparameters chosen
    over three subsamples, 70 of 70 and 4 spurious (0 on seed 0, 3 on seed 1). The line model's claims then left
    camera_yaw's line without an episode on seed 0 (8/10, both yaw edges missing); with line probes, 10/10 and 0
    spurious on seed 0 (other seeds not re-measured)."""
    from robofail_ros.continuous.analyse import analyse_scenes

    relevant, radius = ("light_saturation", "light_intensity", "cube_value", "cube_hue", "camera_yaw",
                        "table_value"), 0.06
    loaded = run_pocket(tmp_path, relevant, radius, 512)
    result = analyse_scenes(loaded.episodes, LIFT, "fake", "boundary", 512)
    nominal = LIFT.to_unit(LIFT.nominal)
    edges = {(name, side): nominal[LIFT.index(name)] + (radius if side == "above" else -radius)
             for name in relevant for side in ("below", "above")}
    # light_saturation's nominal is 0: no edge below. cube_hue's (0.985) is near the top of its circle: its upper
    # edge is at 0.045 past the wrap, the far edge of the failing band [0.045, 0.925] read along the line.
    edges = {k: (u % 1.0 if LIFT.get(k[0]).circular else u) for k, u in edges.items()}
    edges = {k: u for k, u in edges.items() if 0.0 < u < 1.0}
    reported = {(t.factor, t.direction): float(LIFT.get(t.factor).to_unit(t.value)) for t in result.thresholds}
    errors = {k: abs(reported[k] - u) if k in reported else 1.0 for k, u in edges.items()}
    assert len(edges) == 10 and max(errors.values()) <= 0.05, errors  # every edge within 5% of its factor's range
    spurious = [k for k in reported if k[0] not in relevant]
    assert len(spurious) <= 1, spurious


def test_with_one_outcome_only_the_boundary_searcher_explores_the_emptiest_places():
    candidates = qmc.Sobol(2, scramble=True, rng=0).random(256)
    seen = np.array([[0.1, 0.1], [0.15, 0.2]])
    choices = choose_batch(candidates, np.zeros(256), seen, 2, explore_share=1.0)
    picked = candidates[[c.index for c in choices]]
    assert all(c.rule == "explore" for c in choices)
    assert np.linalg.norm(picked[0] - [0.1, 0.1]) > 1.0  # the far corner first
    assert np.linalg.norm(picked[1] - picked[0]) > 0.5  # then far from that pick too


def test_line_probes_go_to_the_ends_of_the_emptiest_lines_then_stop():
    from robofail_ros.continuous.line_model import MIN_LINE_EXPERIMENTS
    from robofail_ros.searchers.claims import line_probes

    nominal = LIFT.to_unit(LIFT.nominal)
    yaw, hue = LIFT.index("camera_yaw"), LIFT.index("cube_hue")
    seen = [nominal.copy()]  # the control's nominal scene is on every line but tests none
    for j in range(LIFT.dim):  # every line holds enough experiments except camera_yaw's (none) and cube_hue's (one)
        for k in range(MIN_LINE_EXPERIMENTS if j not in (yaw, hue) else 1 if j == hue else 0):
            point = nominal.copy()
            point[j] = 0.1 + 0.3 * k  # no factor's nominal is 0.1, 0.4 or 0.7
            seen.append(point)
    probes = line_probes(LIFT, np.asarray(seen), 4)
    moved = [np.flatnonzero(np.abs(p - nominal) > 1e-9).tolist() for p in probes]
    assert moved == [[yaw], [hue]]  # fewest first, one per line, nothing for the lines already covered
    assert probes[0][yaw] in (0.0, 1.0)  # nominal yaw is 0.5: an end of the line, as far as possible from it
    # hue is a circle: nominal 0.985 and 0.1 already there, so the middle of the gap between them, not an end
    assert probes[1][hue] == pytest.approx((0.1 + 0.985) / 2, abs=0.01)
    seen.extend(probes)
    assert len(line_probes(LIFT, np.asarray(seen), 0)) == 0


def test_straddle_prefers_uncertain_points_on_the_boundary():
    mean, sd = np.array([0.0, 0.0, 3.0, 3.0]), np.array([1.0, 0.1, 1.0, 0.1])
    assert list(np.argsort(-straddle(mean, sd))) == [0, 1, 2, 3]


# -- tiny real audits ------------------------------------------------------------------------------------------------
def tiny_config(searcher: str, episodes: int = 6, **kwargs) -> AuditConfig:
    """A continuous audit of the vision policy small enough for CI: 2 control + `episodes` searched, 1 worker."""
    return AuditConfig(searcher=searcher, episodes=episodes, control_episodes=2, workers=1, seed=1,
                       search=SceneSearchConfig(batch=2, initial_design=2, candidates=128),
                       ppo=PPOConfig(n_steps=3, batch_size=3, n_epochs=1), **kwargs)


@pytest.mark.parametrize("searcher", ["sobol", "cmaes", "boundary", "ppo_box"])
def test_a_tiny_real_audit_logs_scenes_and_decisions_and_writes_the_scene_report(tmp_path, searcher):
    config = tiny_config(searcher)
    result = run_audit(config, tmp_path, film=searcher == "sobol")
    loaded = load_log(tmp_path / LOG_NAME)
    searched = [r for r in loaded.episodes if r.searcher == searcher]
    assert len(searched) == 6 and len(loaded.episodes) == 8
    assert all(set(r.scene) == set(SPACE_NAMES) and r.perturbations == [] for r in searched)
    assert all(r.scene is None for r in loaded.episodes if r.searcher == "control")
    assert [f["name"] for f in loaded.header["factors"]] == SPACE_NAMES
    assert loaded.snapshots and all(s["searcher"] == searcher for s in loaded.snapshots)
    analysis = result.scene_analysis
    assert analysis is not None and analysis.searcher == searcher and analysis.budget == 6
    assert analysis.episodes + analysis.aborted_episodes == 6 and analysis.control.episodes == 2
    names = {p.name for p in result.files}
    assert {"results.json", "factor_curves.png", "sobol.png", "thresholds.csv", "rules.csv"} <= names
    if analysis.worst_episodes:
        assert "gallery.png" in names
        assert any(n.startswith("worst_failure_") for n in names) == (searcher == "sobol")


SPACE_NAMES = [f["name"] for f in yaml.safe_load(catalogue_path("Lift").read_text())["factors"]]


class Crash(KeyboardInterrupt):
    """Ctrl-C in the middle of a batch."""


def test_an_interrupted_boundary_audit_resumes_without_repeating_or_losing_an_episode(tmp_path):
    config = tiny_config("boundary", episodes=8)

    def crash_after(n):
        def on_record(record, done, total):
            if done >= n:
                raise Crash
        return on_record

    with pytest.raises(AuditInterrupted):  # 2 control + 2 design + 1 of the first batch of 2
        run_audit(config, tmp_path, on_record=crash_after(5), film=False)
    before = load_log(tmp_path / LOG_NAME)
    assert len(before.episodes) == 5
    result = run_audit(config, tmp_path, film=False)
    after = load_log(tmp_path / LOG_NAME).episodes
    ids = [r.episode_id for r in after]
    assert len(ids) == len(set(ids)) == 10 and len(result.records) == 10
    assert [r.to_json() for r in after[:5]] == [r.to_json() for r in before.episodes]  # nothing rewritten
    first_batch = next(s for s in before.snapshots if "chosen" in s)["chosen"]
    by_id = {r.episode_id: r for r in after}
    for c in first_batch:  # the batch chosen before the crash ran exactly as chosen
        assert by_id[c["episode_id"]].scene["light_intensity"] == pytest.approx(
            float(SPACE.get("light_intensity").from_unit(c["unit"][SPACE_NAMES.index("light_intensity")])))


def test_a_factor_target_missing_from_the_model_is_refused_before_any_worker_starts(tmp_path):
    data = yaml.safe_load(catalogue_path("Lift").read_text())
    next(f for f in data["factors"] if f["name"] == "cube_mass")["targets"] = {"bodies": ["cube_mian"]}
    catalogue = tmp_path / "typo.yaml"
    catalogue.write_text(yaml.safe_dump(data))
    from robofail_ros.sim import SimConfig

    config = tiny_config("sobol", sim=SimConfig(task="Lift", catalogue=str(catalogue)))
    with pytest.raises(CatalogueError, match="factor 'cube_mass' .*unknown body 'cube_mian'"):
        run_audit(config, tmp_path / "out")
    assert not (tmp_path / "out" / LOG_NAME).exists()  # refused before the log, let alone a worker


# -- the continuous MDP of ppo_box ------------------------------------------------------------------------------------
def test_the_box_adversary_env_passes_check_env_and_maps_actions_onto_the_box():
    from stable_baselines3.common.env_checker import check_env

    from robofail_ros.adversary_env import AdversaryEnv
    from robofail_ros.sim import SimConfig

    env = AdversaryEnv(AuditConfig(sim=SimConfig(task="Lift", horizon=3), searcher="ppo_box", control_episodes=2,
                                   workers=1))
    try:
        check_env(env, warn=True)
        space = env.space
        assert env.action_space.shape == (space.dim,) and (env.action_space.low == -1).all()
        env.reset()
        obs, reward, terminated, truncated, info = env.step(-np.ones(space.dim))
        record = EpisodeRecord.from_json(info["episode_record"])
        assert record.scene == pytest.approx(space.scene(space.low)) and record.perturbations == []
        assert obs.shape == (3, 84, 84) and not np.array_equal(obs, env.observe([]))  # it sees the scene it chose
        assert env.scene_of_action(np.full(space.dim, 7.0)) == pytest.approx(space.scene(space.high))  # clipped
        middle = env.scene_of_action(np.zeros(space.dim))
        assert middle["light_intensity"] == pytest.approx(np.sqrt(0.1 * 3.0))  # log factors: the geometric middle
        with pytest.raises(ValueError, match=f"not a finite vector of {space.dim} values"):
            env.step(np.ones(3))
    finally:
        env.close()


# -- the command line ------------------------------------------------------------------------------------------------
def cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run([sys.executable, "-m", "robofail_ros.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_the_continuous_flag_runs_a_continuous_audit_and_closes_with_the_scene_summary(tmp_path):
    done = cli("audit", "--continuous", "--episodes", "2", "--control-episodes", "1", "--workers", "1",
               "--no-video", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "/ boundary: 1 control + 2 searched scenes of 24 factors" in " ".join(done.stderr.split())
    loaded = load_log(tmp_path / LOG_NAME)
    assert loaded.header["config"]["searcher"] == "boundary"
    assert [r.episode_id for r in loaded.episodes] == ["control-0000", "boundary-000000", "boundary-000001"]
    assert (tmp_path / "results.json").exists()
    assert "searcher boundary" in done.stdout and "Thresholds" in done.stdout  # the scene summary closes the run


@pytest.mark.parametrize("args, message", [
    (["--continuous", "--searcher", "adaptive"],
     "--continuous searches the factor box, but searcher 'adaptive' searches the catalogue; "
     "continuous searchers: sobol, cmaes, boundary, ppo_box"),
    (["--searcher", "sobl"], "invalid choice: 'sobl'"),
    (["--continuous", "--initial-states", "shared"], "argument --initial-states: invalid choice: 'shared'"),
    (["--searcher", "sobol", "--catalogue", "NOFACTORS"],
     "searcher 'sobol' needs a continuous factor space: NOFACTORS: no 'factors' section"),
])
def test_bad_continuous_cli_input_is_refused_before_any_progress_bar(tmp_path, args, message):
    data = yaml.safe_load(catalogue_path("Lift").read_text())
    del data["factors"]
    no_factors = tmp_path / "discrete_only.yaml"
    no_factors.write_text(yaml.safe_dump(data))
    args = [str(no_factors) if a == "NOFACTORS" else a for a in args]
    done = cli("audit", "--out", str(tmp_path / "x"), "--episodes", "2", "--control-episodes", "1", *args)
    assert done.returncode == 2 and message.replace("NOFACTORS", str(no_factors)) in done.stderr
    assert "episodes:" not in done.stderr and "control +" not in done.stderr  # no banner, no progress bar
    if "Tasks with one" in done.stderr:
        assert "Tasks with one: Lift, NutAssemblySquare, PickPlaceCan, Stack" in done.stderr


@pytest.mark.parametrize("name", ["explore_share", "check_share", "line_share"])
@pytest.mark.parametrize("value", [-0.1, 1.5, True, "a quarter"])
def test_a_batch_share_outside_0_to_1_is_refused_with_its_name(name, value):
    with pytest.raises(ValueError, match=rf"SceneSearchConfig\.{name} must be a number in \[0, 1\], got {value!r}"):
        SceneSearchConfig(**{name: value})
