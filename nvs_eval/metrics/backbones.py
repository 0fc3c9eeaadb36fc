"""The ImageNet ``features`` stacks LPIPS and DISTS run on, built without importing torchvision where possible.

AlexNet and VGG16 are plain convolution / ReLU / max-pool stacks, laid out here module for module as
torchvision's ``alexnet().features`` and ``vgg16().features`` (``torchvision/models/alexnet.py``, ``AlexNet.__init__``;
``torchvision/models/vgg.py``, ``cfgs["D"]`` through ``make_layers`` without batch norm), so their state dicts load
with ``strict=True`` and every index LPIPS (``SLICES``) and DISTS (``STAGES``) slices at is the same module.
``tests/metrics/test_lpips.py`` checks the two layouts against torchvision's, repr for repr and key for key.

Why not torchvision itself: importing it pulls in ``torch._dynamo`` through ``torchvision.ops`` (about 1.8 s on
this project's CI machine), which every ``nvs-eval`` command paid before it could even report a missing file.
SqueezeNet 1.1 (Fire modules, ceil-mode pools) is still taken from torchvision, imported only when asked for.
"""

from __future__ import annotations

from torch import nn

# (out_channels, kernel, stride, padding) per convolution; "M" a max pool (torchvision's AlexNet: 3x3, stride 2).
_ALEX = ((64, 11, 4, 2), "M", (192, 5, 1, 2), "M", (384, 3, 1, 1), (256, 3, 1, 1), (256, 3, 1, 1), "M")
# VGG16 (configuration "D"): 3x3 / padding-1 convolutions; its max pools are 2x2, stride 2.
_VGG16 = tuple("M" if c == "M" else (c, 3, 1, 1)
               for c in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"))
_POOL = {"alex": 3, "vgg": 2}  # each network's max-pool kernel (stride 2 in both)


def _stack(spec: tuple, pool: int) -> nn.Sequential:
    """Convolution + in-place ReLU per entry of ``spec``, a ``pool``-wide / stride-2 max pool per "M"."""
    layers: list[nn.Module] = []
    channels = 3
    for entry in spec:
        if entry == "M":
            layers.append(nn.MaxPool2d(kernel_size=pool, stride=2))
            continue
        out, kernel, stride, padding = entry
        layers += [nn.Conv2d(channels, out, kernel_size=kernel, stride=stride, padding=padding), nn.ReLU(inplace=True)]
        channels = out
    return nn.Sequential(*layers)


def features(net: str) -> nn.Sequential:
    """``net``'s ``features`` stack (``alex``, ``vgg`` or ``squeeze``), randomly initialised: the caller assigns
    the real weights (build it under ``torch.device("meta")`` to allocate nothing)."""
    if net in _POOL:
        return _stack(_ALEX if net == "alex" else _VGG16, _POOL[net])
    import torchvision  # only SqueezeNet: its Fire modules are torchvision's own classes

    return torchvision.models.squeezenet1_1(weights=None).features
