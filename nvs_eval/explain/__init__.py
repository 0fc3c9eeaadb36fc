"""``nvs-eval explain``: which evaluation convention reproduces a paper's (or a tool's) numbers?

The conventions that move PSNR, SSIM and LPIPS are data here (:class:`~nvs_eval.conventions.protocols.Protocol`),
so they can be searched. Given renders, their ground truth and target values, every combination of

* quantisation: none, or 8-bit ``round`` / ``truncate`` of the render, the ground truth or both;
* background for RGBA images: white, black, or the colour channels as stored (only when an image has transparent
  pixels);
* SSIM: Gaussian 11/1.5 or uniform 7 window; valid / zero-same / reflect-same padding; population or sample
  covariance; data range 1, 2 or from the pair; no variance floor, dm_pix's (0), NerfBaselines' (2^-46) or
  torchmetrics' clamp of the variances; RGB-mean or BT.601 luma;
* LPIPS: AlexNet, VGG (and SqueezeNet when its weights are on the machine), fed [-1, 1] or [0, 1] unmapped (v0.1
  linear layers, the only published ones);
* aggregation of PSNR: mean of per-view values or PSNR of the mean MSE;

is evaluated, and the combinations that reproduce every target within half a unit of its last printed digit are
ranked: fewest settings away from a preset first (a preset itself has none), then by the summed distance to the
targets in tolerance units. Unrounded targets (a tool's JSON, float32 values) are matched to
:data:`~nvs_eval.explain.targets.FLOAT_TOLERANCE`.

Work is shared so that the whole search costs a small multiple of one ``score``: each image is decoded once;
quantisation variants that leave an image unchanged (8-bit files under ``round``) are recognised as the same
tensor and scored once; LPIPS features are computed once per network, input mapping and distinct image; SSIM's
five filtered moments once per window, padding and channel choice, and every covariance / range / floor variant is
formed from them.
"""

from .ranking import explain, json_ready, nearest_preset, protocol_for
from .search import Search, ViewPair, compute
from .targets import FLOAT_TOLERANCE, TargetValue, parse_targets, targets_from_file, tolerance_of

__all__ = ["FLOAT_TOLERANCE", "Search", "TargetValue", "ViewPair", "compute", "explain", "json_ready",
           "nearest_preset", "parse_targets", "protocol_for", "targets_from_file", "tolerance_of"]
