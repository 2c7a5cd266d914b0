"""Shared fixtures: one real Lift simulation per test session (building one costs ~2 s)."""
import os
import sys
from pathlib import Path

# Tests import mujoco directly; it reads its GL backend at import time, so choose headless EGL first.
os.environ.setdefault("MUJOCO_GL", "egl")

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # test helpers (ros_graph)


@pytest.fixture(scope="session")
def lift_sim():
    from robofail_ros.sim import SimConfig, Simulation

    sim = Simulation(SimConfig(task="Lift"))
    yield sim
    sim.close()


@pytest.fixture
def clean_lift_sim(lift_sim):
    """The shared simulation with no perturbation active before and after the test."""
    lift_sim.set_perturbations([])
    yield lift_sim
    lift_sim.set_perturbations([])


#: A few demos and a handful of gradient steps: enough to exercise every zoo interface, not to learn the task.
TINY_ZOO_BUDGET = dict(steps=5, batch_size=8, demos=3)


@pytest.fixture(scope="session")
def zoo_lift_demos(tmp_path_factory):
    """Three noisy scripted-expert Lift demos in robomimic's hdf5 format (skips without the zoo extra)."""
    pytest.importorskip("robomimic", reason="the policy zoo needs the zoo extra (requirements-zoo.txt)")
    from robofail_ros.zoo.demos import record_demos

    return record_demos(tmp_path_factory.mktemp("demos") / "lift.hdf5", task="Lift",
                        demos=TINY_ZOO_BUDGET["demos"], seed=0).path


@pytest.fixture(scope="session")
def tiny_zoo_models(zoo_lift_demos, tmp_path_factory):
    """Checkpoints of a few gradient steps: low-dim BC, low-dim BC-RNN (stateful) and image BC."""
    from robofail_ros.zoo.spec import Budget
    from robofail_ros.zoo.train import train

    folder = tmp_path_factory.mktemp("models")
    return {f"{algo}-{modality}": train(algo, modality, zoo_lift_demos, Budget(**TINY_ZOO_BUDGET),
                                        folder / f"{algo}-{modality}.pth").checkpoint
            for algo, modality in (("bc", "low_dim"), ("bc_rnn", "low_dim"), ("bc", "image"))}
