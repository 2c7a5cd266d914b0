"""Platform hazards we have hit, pinned down so they cannot come back unnoticed."""
import os
import subprocess
import sys
import textwrap

RENDER_THEN_OPTIMISE = textwrap.dedent("""
    from robofail_ros.sim import SimConfig, Simulation
    sim = Simulation(SimConfig(task="Lift"), seed=0)
    sim.reset(seed=0)
    frame = sim.render()
    assert frame.shape == (84, 84, 3)
    import torch
    weights = torch.zeros(3, requires_grad=True)
    torch.optim.Adam([weights], lr=0.1)  # first optimizer: torch imports torch._dynamo, hence Triton
    print("survived")
""")


def test_a_process_that_rendered_can_still_build_a_torch_optimizer():
    """Triton's bundled LLVM segfaulted when loaded after Mesa's llvmpipe; the simulation loads it first."""
    env = dict(os.environ, MUJOCO_GL="egl")
    proc = subprocess.run([sys.executable, "-c", RENDER_THEN_OPTIMISE], env=env, capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-2000:]}"
    assert "survived" in proc.stdout
