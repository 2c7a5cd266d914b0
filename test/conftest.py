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
