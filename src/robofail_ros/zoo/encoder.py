"""A small conv encoder for 84x84 images, registered with robomimic by subclassing its `EncoderCore`.

robomimic's smallest built-in backbone (ShallowConv: 64 channels at 42x42) still made one
image BCQ/CQL gradient step cost 15-40 s on this shared 2-core CPU, because those algorithms
run an encoder per critic and per sampled action. This core has a sixth of its
multiply-adds (16 then 32 channels, down to 21x21), keeps robomimic's spatial-softmax
keypoints, and is found by name in a config like any robomimic core (`core_class="SmallConvCore"`);
importing this module is what registers it, in training and before loading a checkpoint.
"""
from __future__ import annotations

import torch
from torch import nn

from robomimic.models.base_nets import SpatialSoftmax
from robomimic.models.obs_core import EncoderCore


class SmallConvCore(EncoderCore):
    """3 conv layers (stride 2, 2, 1) → spatial softmax keypoints → linear features."""

    def __init__(self, input_shape, feature_dimension: int = 64, num_kp: int = 32) -> None:
        super().__init__(input_shape=input_shape)
        channels, height, width = input_shape
        self.feature_dimension = feature_dimension
        self.backbone = nn.Sequential(
            nn.Conv2d(channels, 16, kernel_size=5, stride=2, padding=2), nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, kernel_size=3, stride=1, padding=1),
        )
        with torch.no_grad():
            feat_shape = list(self.backbone(torch.zeros(1, channels, height, width)).shape[1:])
        self.pool = SpatialSoftmax(feat_shape, num_kp=num_kp, learnable_temperature=False, temperature=1.0, noise_std=0.0)
        self.linear = nn.Linear(2 * num_kp, feature_dimension)

    def output_shape(self, input_shape=None) -> list[int]:
        return [self.feature_dimension]

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.flatten(self.pool(self.backbone(inputs)), start_dim=1))
