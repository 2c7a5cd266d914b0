"""robofail_ros: find under which scene conditions a manipulation policy fails, and how often.

The core (everything outside `nodes/`) imports no ROS, so it runs headless and in tests.
"""
import os as _os

# MuJoCo picks its GL backend at import time; headless EGL is the one that works on servers.
_os.environ.setdefault("MUJOCO_GL", "egl")
_os.environ.setdefault("PYOPENGL_PLATFORM", _os.environ["MUJOCO_GL"])


def load_triton_before_gl() -> None:
    """Import Triton (if installed) before the first GL context exists.

    torch's Linux wheels depend on Triton, which bundles its own LLVM; torch imports it lazily the first time
    an optimizer is built. If Mesa's llvmpipe (headless EGL rendering) has already loaded the system LLVM by
    then, loading Triton's segfaults the process. The other order is safe. Doing it here, on importing the
    package, makes every process that runs robofail code safe whatever it renders first (a benchmark's bare
    robosuite rollout, user code), not only the call sites that remember to; it costs ~0.2 s once.
    """
    import importlib.util

    if importlib.util.find_spec("triton") is not None:
        import triton  # noqa: F401


load_triton_before_gl()

__version__ = "0.1.0"
