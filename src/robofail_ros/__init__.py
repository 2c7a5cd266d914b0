"""robofail_ros: find under which scene conditions a manipulation policy fails, and how often.

The core (everything outside `nodes/`) imports no ROS, so it runs headless and in tests.
"""
import os as _os

# MuJoCo picks its GL backend at import time; headless EGL is the one that works on servers.
_os.environ.setdefault("MUJOCO_GL", "egl")
_os.environ.setdefault("PYOPENGL_PLATFORM", _os.environ["MUJOCO_GL"])

__version__ = "0.1.0"
