"""Films of episodes: the mp4 a person watches to see how a policy fails."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def as_rgb_uint8(frame: np.ndarray) -> np.ndarray:
    """Any grey, RGBA or float image as HxWx3 uint8, the only pixel format video and image grids take."""
    f = np.asarray(frame)
    if f.ndim == 2:
        f = np.repeat(f[:, :, None], 3, axis=2)
    if f.ndim != 3 or f.shape[2] not in (3, 4):
        raise ValueError(f"frames must be HxWx3 images, got shape {f.shape}")
    f = f[:, :, :3]
    if f.dtype != np.uint8:
        if np.issubdtype(f.dtype, np.floating) and f.size and float(np.nanmax(f)) <= 1.0:
            f = f * 255.0
        f = np.clip(np.nan_to_num(f), 0, 255).astype(np.uint8)
    return f


def write_video(frames: list[np.ndarray], path: Path, fps: int = 20) -> Path:
    """H.264 mp4 of a (failure) episode; frames are edge-padded to even sizes, which yuv420p requires."""
    import imageio.v2 as imageio

    if not frames:
        raise ValueError("write_video needs at least one frame")
    rgb = [as_rgb_uint8(f) for f in frames]
    h = max(f.shape[0] for f in rgb)
    w = max(f.shape[1] for f in rgb)
    h, w = h + h % 2, w + w % 2
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = imageio.get_writer(str(path), format="FFMPEG", mode="I", fps=fps, codec="libx264",
                                pixelformat="yuv420p", macro_block_size=1, ffmpeg_log_level="error")
    try:
        for f in rgb:
            pad = ((0, h - f.shape[0]), (0, w - f.shape[1]), (0, 0))
            writer.append_data(np.pad(f, pad, mode="edge") if any(p[1] for p in pad) else f)
    finally:
        writer.close()
    return path
