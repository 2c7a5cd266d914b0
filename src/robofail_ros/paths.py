"""Where the package's data files live, whether run from a checkout or an installed ROS package."""
from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE_NAME = "robofail_ros"


def _find_config_dir() -> Path:
    """Prefer an explicit override, then the checkout, then the installed ament share folder."""
    override = os.environ.get("ROBOFAIL_CONFIG_DIR")
    if override:
        return Path(override)
    checkout = Path(__file__).resolve().parents[2] / "config"
    if checkout.is_dir():
        return checkout
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE_NAME)) / "config"
    except Exception:  # ament index absent or package not registered: fall back to the prefix
        return Path(sys.prefix) / "share" / PACKAGE_NAME / "config"


CONFIG_DIR = _find_config_dir()
