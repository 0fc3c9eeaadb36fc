"""Load and pair: read images, discover layouts and datasets, pair renders with ground truth."""

from .images import read_image
from .layouts import Scene, detect_layout, load_layout, pairs_scene
from .pairing import PairedScene, ViewJob, pair_scene

__all__ = ["read_image", "Scene", "detect_layout", "load_layout", "pairs_scene", "PairedScene", "ViewJob", "pair_scene"]
