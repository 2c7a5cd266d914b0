"""What the adaptive searcher promises, checked on fake outcomes (no simulator): its allocation rule and its resume."""
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robofail_ros.config import AuditConfig, episode_seed
from robofail_ros.episode import ABORTED, FAILURE, SUCCESS, EpisodeRecord
from robofail_ros.record import LOG_NAME, AuditLog, Recorder, load_log
from robofail_ros.searchers import make_searcher
from robofail_ros.searchers.adaptive import AdaptiveAllocation, ArmCounts, choose_arm
from robofail_ros.searchers.base import SearchContext

NAMES = ["always_fails", "never_fails", "coin_flip", "rarely_fails"]
TRUE_RATE = {"always_fails": 1.0, "never_fails": 0.0, "coin_flip": 0.5, "rarely_fails": 0.1}


def outcome(name: str, seed: int, episode_id: str) -> str:
    """A fake policy: a Bernoulli(TRUE_RATE) outcome that is a fixed function of the episode."""
    draw = np.random.default_rng([seed, int(episode_id.rsplit("-", 1)[-1])]).random()
    return FAILURE if draw < TRUE_RATE[name] else SUCCESS


def allocate(n_episodes: int, seed: int = 0) -> ArmCounts:
    """Run the allocation rule alone, one episode at a time, on fake outcomes."""
    counts = ArmCounts.empty(NAMES)
    for i in range(n_episodes):
        arm = choose_arm(counts, np.random.default_rng([seed, i]))
        counts.pulls[arm] += 1
        counts.observe(record(f"adaptive-{i:06d}", NAMES[arm], i))
    return counts


def record(episode_id: str, name: str, seed: int, result: str | None = None) -> EpisodeRecord:
    return EpisodeRecord(episode_id=episode_id, seed=seed, perturbations=[name],
                         outcome=result or outcome(name, seed, episode_id), steps=10, reward=0.0, wall_time=0.0,
                         policy_id="fake", task="Lift", searcher="adaptive")


def test_adaptive_is_a_known_searcher():
    assert isinstance(make_searcher("adaptive"), AdaptiveAllocation)
    assert AuditConfig(searcher="adaptive").max_depth == 1  # it estimates single perturbations


def test_every_perturbation_is_visited_once_before_any_is_visited_twice():
    counts = ArmCounts.empty(NAMES)
    order = []
    for i in range(len(NAMES)):
        arm = choose_arm(counts, np.random.default_rng(i))
        order.append(arm)
        counts.pulls[arm] += 1
        counts.observe(record(f"adaptive-{i:06d}", NAMES[arm], i, FAILURE))
    assert order == list(range(len(NAMES)))


def test_episodes_go_to_the_uncertain_rate_not_to_the_settled_ones():
    counts = allocate(120)
    pulls = dict(zip(NAMES, counts.pulls))
    assert pulls["coin_flip"] > 1.5 * max(pulls["always_fails"], pulls["never_fails"])
    assert min(pulls.values()) >= 2  # no perturbation is dropped after its first look


def test_one_batch_spreads_over_different_perturbations():
    counts = ArmCounts(pulls=np.array([5, 5, 5, 5]), valid=np.array([5, 5, 5, 5]), failures=np.array([0, 5, 2, 3]),
                       index={n: i for i, n in enumerate(NAMES)})
    first = choose_arm(counts, np.random.default_rng(0))
    second = choose_arm(counts, np.random.default_rng(1), pending=[first])
    assert first != second


def test_a_perturbation_whose_episodes_abort_does_not_eat_the_budget():
    counts = ArmCounts(pulls=np.array([6, 6, 6, 6]), valid=np.array([6, 6, 6, 0]), failures=np.array([6, 0, 3, 0]),
                       index={n: i for i, n in enumerate(NAMES)})
    assert choose_arm(counts, np.random.default_rng(0)) != 3  # 0 of 6 rated: its interval is (0, 1) forever


def test_counts_from_a_log_ignore_aborted_outcomes_but_count_the_pull():
    counts = ArmCounts.from_records(NAMES, [record("a-0", "coin_flip", 0, FAILURE), record("a-1", "coin_flip", 1, ABORTED),
                                           record("a-2", "never_fails", 2, SUCCESS)])
    assert list(counts.pulls) == [0, 1, 2, 0]
    assert list(counts.valid) == [0, 1, 1, 0] and list(counts.failures) == [0, 0, 1, 0]


# --------------------------------------------------------------------------- the searcher on a fake worker pool


@dataclass
class FakeVecEnv:
    num_envs: int = 2


class FakeContext(SearchContext):
    """Runs jobs by drawing fake outcomes instead of simulating, recording them like the real pool does."""

    def run_jobs(self, jobs) -> None:
        for j in jobs:
            self.recorder.add(record(j.episode_id, j.perturbations[0], j.seed))


def run_searcher(folder: Path, budget: int) -> list[EpisodeRecord]:
    """Run (or resume) the adaptive searcher on fake outcomes in `folder`; returns the whole log."""
    config = AuditConfig(searcher="adaptive", episodes=budget, control_episodes=3, workers=2, seed=4)
    log_path = folder / LOG_NAME
    existing = load_log(log_path).episodes
    with AuditLog(log_path) as audit_log:
        ctx = FakeContext(config, FakeVecEnv(), Recorder(audit_log, existing), audit_log, NAMES, folder)
        AdaptiveAllocation().run(ctx, budget)
    return load_log(log_path).episodes


def test_a_resumed_search_picks_exactly_the_episodes_an_uninterrupted_one_picks(tmp_path):
    whole = run_searcher(tmp_path / "whole", 40)
    run_searcher(tmp_path / "resumed", 18)  # interrupted at a batch boundary ...
    resumed = run_searcher(tmp_path / "resumed", 40)  # ... and started again with the full budget
    key = [(r.episode_id, r.perturbations, r.seed) for r in whole]
    assert [(r.episode_id, r.perturbations, r.seed) for r in resumed] == key
    assert len(whole) == 40


def test_repetition_r_of_a_perturbation_starts_from_initial_state_r(tmp_path):
    episodes = run_searcher(tmp_path, 30)
    seen: dict[str, int] = {}
    for r in episodes:
        rep = seen.get(r.perturbations[0], 0)
        assert r.seed == episode_seed(4, rep, 3)
        seen[r.perturbations[0]] = rep + 1


def test_no_initial_state_is_reused_while_another_perturbation_has_unused_ones():
    counts = ArmCounts.empty(NAMES)
    for i in range(4 * 10):
        arm = choose_arm(counts, np.random.default_rng(i), pool_size=10)
        counts.pulls[arm] += 1
        counts.observe(record(f"adaptive-{i:06d}", NAMES[arm], i))
    assert list(counts.pulls) == [10, 10, 10, 10]  # the coin flip would have had far more without the pool limit
