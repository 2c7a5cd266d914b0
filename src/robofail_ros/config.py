"""An audit's whole configuration in one place, with the reason for every default.

CLI flags, ROS parameters and tests all start from these dataclasses, so a default
lives here and nowhere else.
"""
from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from robofail_ros.sim import SimConfig, default_worker_count

#: Searchers over the named perturbations of the catalogue (each episode applies one or a few of them).
DISCRETE_SEARCHERS = ("ppo", "bandit", "uniform", "adaptive")
#: Searchers over the continuous factor box (each episode applies one scene: a value per factor).
CONTINUOUS_SEARCHERS = ("sobol", "cmaes", "boundary", "ppo_box")
SEARCHERS = DISCRETE_SEARCHERS + CONTINUOUS_SEARCHERS
#: Searchers that drive the workers through SB3's VecEnv.step (PPO): their logged episodes are handed back to the
#: workers on resume and re-used by (seed, perturbations, scene); the others skip finished jobs by episode id.
STEPPING_SEARCHERS = ("ppo", "ppo_box")

DEFAULT_SEARCHER = "adaptive"
"""Discrete default: the search-quality study (docs/benchmarks.md, section 7) found adaptive allocation the fastest
to calibrated rates: at 216 episodes its error matched what the uniform sweep needed 432 for, while PPO's π
collapsed onto one arm and Thompson sampling re-ran the same experiments."""
DEFAULT_CONTINUOUS_SEARCHER = "boundary"
"""Continuous default (provisional, until the next issue's study compares the searchers): the audit reports
thresholds, and active learning spends episodes where P(failure) is least certain near 0.5, which is where a
threshold is pinned; a Sobol sweep spends most of them deep inside regions that surely fail or surely succeed."""
DEFAULT_EPISODES = {"discrete": 216, "continuous": 512}
"""Searcher budget per mode when `episodes` is 0. Discrete: 8 per Lift perturbation, where the study's adaptive
audits reached a mean absolute error of 0.02 and a mean 95% interval width of 0.34. Continuous: keeps a default
vision-policy audit of Lift (boundary searcher, 2 workers, 24 factors) well under 10 minutes on this 2-core
machine: measured 3 min 40 s with the machine otherwise idle (about 2.5 episodes/s, analysis and report ~15 s),
4 min 26 s beside other jobs (load 2-4); provisional until the searcher study of the next issue."""


@dataclass(frozen=True)
class PPOConfig:
    """PPO hyperparameters: the paper's (Appendix B) except n_steps, which must fit a 2-core CPU."""

    learning_rate: float = 3e-4
    n_steps: int = 64
    """Episodes per worker per update. The paper's 2048 would be ~15 minutes of episodes per update here."""
    batch_size: int = 64
    n_epochs: int = 10
    gamma: float = 0.99
    gae_lambda: float = 0.95
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0:
                raise ValueError(f"PPOConfig.{f.name} must be a non-negative number, got {v!r}")
        for name in ("n_steps", "batch_size", "n_epochs"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"PPOConfig.{name} must be at least 1, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class SceneSearchConfig:
    """How the continuous searchers spend their episodes (ignored by the discrete ones)."""

    batch: int = 16
    """Episodes per search decision (a CMA-ES generation, a boundary batch). Fixed rather than the worker count,
    so the decisions do not depend on how many workers ran them, and a resumed audit replays them exactly."""
    initial_design: int = 64
    """boundary: scrambled Sobol points run before the first model fit (a power of 2 keeps Sobol's balance)."""
    explore_share: float = 0.25
    """boundary: share of each batch spent on the candidate farthest from every episode so far, so a failure
    region the model has not seen yet can still be found."""
    check_share: float = 0.25
    """boundary: share of each batch spent testing the thresholds the model now implies, one episode at the failing
    end of each claim's interval on its factor's line through nominal (searchers/claims.py); unused slots go back
    to the straddle picks."""
    line_share: float = 0.125
    """boundary: share of each batch spent on factor lines through nominal that hold fewer experiments than the
    line model needs (searchers/claims.py line_probes); once every line has them, these slots go back to the
    straddle picks."""
    candidates: int = 2048
    """boundary: candidate points scored by the acquisition per batch (half Sobol points of the box, half pulled
    towards the nominal scene)."""
    optimise_every: int = 4
    """boundary: re-optimise the model's hyperparameters every this many batches (a refit in between keeps them;
    optimising costs seconds, a refit a fraction of one)."""
    cmaes_sigma: float = 0.3
    """cmaes: initial step size in the unit cube (0.3 reaches most of the box from its centre)."""
    initial_states: str = "pool"
    """Where each searched scene's initial state comes from: "pool" cycles through the control's pool of
    control_episodes states (every scene matched to control episodes from the same states), "fresh" gives every
    searched experiment an initial state of its own (`searched_state_seed`). With a pool, every rate and threshold
    is over those few states; where failures depend on the initial state, another pool moves them (benchmarks §8o)."""

    def __post_init__(self) -> None:
        for name in ("batch", "initial_design", "candidates", "optimise_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"SceneSearchConfig.{name} must be a positive integer, got {v!r}")
        for name in ("explore_share", "check_share", "line_share"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise ValueError(f"SceneSearchConfig.{name} must be a number in [0, 1], got {v!r}")
        if self.initial_states not in INITIAL_STATES:
            raise ValueError(f"SceneSearchConfig.initial_states must be one of {', '.join(INITIAL_STATES)}, "
                             f"got {self.initial_states!r}")
        if isinstance(self.cmaes_sigma, bool) or not isinstance(self.cmaes_sigma, (int, float)) \
                or not 0.0 < self.cmaes_sigma <= 1.0:
            raise ValueError(f"SceneSearchConfig.cmaes_sigma must be a number in (0, 1], got {self.cmaes_sigma!r}")


@dataclass(frozen=True)
class AuditConfig:
    """One audit: which policy, which scene, which searcher, how many episodes."""

    sim: SimConfig = field(default_factory=SimConfig)
    policy: str = "vision"
    """Policy under test: vision, expert, or package.module:ClassName."""
    searcher: str = DEFAULT_SEARCHER
    """Over the catalogue: adaptive (one pass, then episodes to the widest interval that still matters for the
    ranking), ppo (the paper's adversary), bandit (Thompson sampling) or uniform (the paper's naive sweep).
    Over the factor box (a continuous audit): sobol (scrambled Sobol sweep), cmaes (worst-case optimiser),
    boundary (active learning of the failure boundary) or ppo_box (the paper's PPO with a continuous action)."""
    episodes: int = 0
    """Searcher episode budget, the control run not included; 0 takes the mode's DEFAULT_EPISODES."""
    control_episodes: int = 30
    """Unperturbed episodes, one per initial state of the seed pool; every searched episode reuses these states."""
    seed: int = 0
    """Audit seed: fixes the initial-state pool, the searcher and PPO's network initialisation."""
    workers: int = field(default_factory=default_worker_count)
    """Parallel simulation processes."""
    max_depth: int = 0
    """Perturbations an adversary episode may stack after successes; 0 takes the searcher's default."""
    ppo: PPOConfig = field(default_factory=PPOConfig)
    search: SceneSearchConfig = field(default_factory=SceneSearchConfig)

    def __post_init__(self) -> None:
        if self.searcher not in SEARCHERS:
            raise ValueError(f"unknown searcher {self.searcher!r}; known: {', '.join(SEARCHERS)}")
        if self.episodes == 0 and not isinstance(self.episodes, bool):
            object.__setattr__(self, "episodes", DEFAULT_EPISODES["continuous" if self.continuous else "discrete"])
        for name in ("episodes", "control_episodes", "workers"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.max_depth == 0:
            # The paper's MDP stacks perturbations after a success; the bandit and the sweep
            # (and adaptive allocation) estimate single perturbations, so their episodes are one perturbation deep.
            object.__setattr__(self, "max_depth", 2 if self.searcher in STEPPING_SEARCHERS else 1)
        if isinstance(self.max_depth, bool) or not isinstance(self.max_depth, int) or self.max_depth < 1:
            raise ValueError(f"max_depth must be a positive integer, got {self.max_depth!r}")

    @property
    def continuous(self) -> bool:
        """Whether this audit searches the continuous factor box (scenes) rather than the named perturbations."""
        return self.searcher in CONTINUOUS_SEARCHERS

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "AuditConfig":
        d = dict(d)
        d["sim"] = SimConfig(**d["sim"])
        d["ppo"] = PPOConfig(**d["ppo"])
        # Logs from before the continuous mode have no search section; logs from before `initial_states` drew
        # every searched state from the pool, and a resumed audit must go on doing so.
        d["search"] = SceneSearchConfig(**{"initial_states": "pool", **d.get("search", {})})
        return cls(**d)

    def identity(self) -> dict[str, Any]:
        """The fields that must match for a log to be resumed: everything but the worker count and budget."""
        d = self.to_json()
        for k in ("workers", "episodes"):
            d.pop(k)
        return d


#: Where a searched scene's initial state comes from (SceneSearchConfig.initial_states).
INITIAL_STATES = ("pool", "fresh")
#: Tags the fresh-state seed stream apart from the pool's (whose entropy is [audit seed, pool index]).
_FRESH_STREAM = 0x5EED


def searched_state_seed(config: AuditConfig, index: int, stream: str) -> int:
    """Initial-state seed of searched scene experiment `index` of `stream` (a searcher, or a PPO run and worker).

    "pool": state `index` mod control_episodes of the control's pool. "fresh": a state of its own, from the audit
    seed, the stream and the index, so a resumed audit reruns the same states, two searchers of one audit do not
    share them, and none of them is a control state. Why fresh states: the failure model counts every experiment as
    an independent draw of P(failure | scene) over initial states; experiments that share a pool's 30 states are
    not, and the model's intervals are then about that pool, not about the policy (benchmarks §8o, §8p).
    """
    if config.search.initial_states == "pool":
        return episode_seed(config.seed, index, config.control_episodes)
    entropy = [int(config.seed), _FRESH_STREAM, zlib.crc32(stream.encode()), int(index)]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def episode_seed(audit_seed: int, index: int, pool_size: int) -> int:
    """Initial-state seed of episode `index`: the pool is shared by control and searched episodes.

    Cycling through a fixed pool makes every perturbed episode matched to a control
    episode from the very same initial state, and makes seeds independent of which
    worker runs an episode.
    """
    return int(np.random.SeedSequence([int(audit_seed), int(index) % int(pool_size)]).generate_state(1)[0])
