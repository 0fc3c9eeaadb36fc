"""Benchmarks as configuration: YAML in ``configs/`` loaded into frozen dataclasses, validated once.

Errors name the file and the key (``configs/x.yaml: datasets[0].methods[1].path: ...``). Paths are relative to
the YAML file's folder; ``{scene}`` in a path is replaced by each scene's name.

.. code-block:: yaml

    name: my-benchmark
    protocol: nvs-eval            # optional, default nvs-eval
    metrics: [psnr, ssim, lpips_vgg]   # optional, default: the protocol's
    datasets:
      - name: nerf-synthetic
        kind: blender             # pairs | 3dgs | nerfstudio | nerfbaselines | blender | llff | mipnerf360
        root: data/nerf_synthetic # dataset kinds: one scene folder per scene under root
        gt: gt/{scene}            # pairs: the ground-truth folder
        images: images_4          # llff / mipnerf360: which image folder
        iteration: 30000          # 3dgs: which test/ours_<iteration> (default latest)
        scenes: [lego, chair]
        allow_missing: false
        methods:
          - {name: nerfacto, path: renders/nerfacto/{scene}}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import ConfigError
from .metrics.registry import METRICS
from .protocols import PROTOCOLS

KINDS = ("pairs", "3dgs", "nerfstudio", "nerfbaselines", "blender", "llff", "mipnerf360")


@dataclass(frozen=True)
class MethodConfig:
    name: str
    path: str


@dataclass(frozen=True)
class DatasetConfig:
    name: str
    kind: str
    scenes: tuple[str, ...]
    methods: tuple[MethodConfig, ...]
    root: Path | None = None
    gt: str | None = None
    images: str = "images"
    iteration: int | None = None
    allow_missing: bool = False

    def resolve(self, template: str, scene: str, base: Path) -> Path:
        return (base / template.replace("{scene}", scene)).resolve()


@dataclass(frozen=True)
class BenchmarkConfig:
    name: str
    protocol: str
    metrics: tuple[str, ...] | None
    datasets: tuple[DatasetConfig, ...]
    source: Path

    @property
    def base(self) -> Path:
        return self.source.parent


class _Checker:
    def __init__(self, source: Path):
        self.source = source

    def fail(self, key: str, msg: str) -> ConfigError:
        return ConfigError(f"{self.source}: {key}: {msg}")

    def mapping(self, obj, key: str, allowed: set[str], required: set[str]) -> dict:
        if not isinstance(obj, dict):
            raise self.fail(key, f"expected a mapping, got {type(obj).__name__}")
        unknown = sorted(set(map(str, obj)) - allowed)
        if unknown:
            raise self.fail(f"{key}.{unknown[0]}" if key else unknown[0],
                            f"unknown key; allowed: {', '.join(sorted(allowed))}")
        missing = sorted(required - set(obj))
        if missing:
            raise self.fail(f"{key}.{missing[0]}" if key else missing[0], "required key is missing")
        return obj

    def typed(self, obj, key: str, typ, what: str):
        if not isinstance(obj, typ) or (typ is int and isinstance(obj, bool)):
            raise self.fail(key, f"expected {what}, got {type(obj).__name__} {obj!r}")
        return obj

    def str_list(self, obj, key: str) -> tuple[str, ...]:
        self.typed(obj, key, list, "a list of strings")
        return tuple(self.typed(x, f"{key}[{i}]", str, "a string") for i, x in enumerate(obj))


def load_config(path: Path | str) -> BenchmarkConfig:
    """Load and validate a benchmark YAML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read config ({e})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    c = _Checker(path)
    raw = c.mapping(raw, "", {"name", "protocol", "metrics", "datasets"}, {"datasets"})
    name = c.typed(raw.get("name", path.stem), "name", str, "a string")
    protocol = c.typed(raw.get("protocol", "nvs-eval"), "protocol", str, "a string")
    if protocol not in PROTOCOLS:
        raise c.fail("protocol", f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    metrics = None
    if "metrics" in raw:
        metrics = c.str_list(raw["metrics"], "metrics")
        for i, m in enumerate(metrics):
            if m not in METRICS:
                raise c.fail(f"metrics[{i}]", f"unknown metric {m!r}; known: {', '.join(METRICS)}")
    datasets_raw = c.typed(raw["datasets"], "datasets", list, "a list of datasets")
    if not datasets_raw:
        raise c.fail("datasets", "expected at least one dataset")
    datasets = []
    base = path.parent
    for i, d in enumerate(datasets_raw):
        k = f"datasets[{i}]"
        d = c.mapping(d, k, {"name", "kind", "root", "gt", "images", "iteration", "scenes", "methods", "allow_missing"},
                      {"name", "kind", "methods", "scenes"})
        kind = c.typed(d["kind"], f"{k}.kind", str, "a string")
        if kind not in KINDS:
            raise c.fail(f"{k}.kind", f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
        scenes = c.str_list(d["scenes"], f"{k}.scenes")
        if not scenes:
            raise c.fail(f"{k}.scenes", "expected at least one scene")
        methods_raw = c.typed(d["methods"], f"{k}.methods", list, "a list of methods")
        if not methods_raw:
            raise c.fail(f"{k}.methods", "expected at least one method")
        methods = []
        for j, m in enumerate(methods_raw):
            mk = f"{k}.methods[{j}]"
            m = c.mapping(m, mk, {"name", "path"}, {"name", "path"})
            methods.append(MethodConfig(c.typed(m["name"], f"{mk}.name", str, "a string"),
                                        c.typed(m["path"], f"{mk}.path", str, "a string")))
        names = [m.name for m in methods]
        if len(set(names)) != len(names):
            raise c.fail(f"{k}.methods", f"method names must be unique, got {names}")
        root = None
        if kind in ("blender", "llff", "mipnerf360"):
            if "root" not in d:
                raise c.fail(f"{k}.root", f"required for kind {kind}: the folder holding one folder per scene")
            root = (base / c.typed(d["root"], f"{k}.root", str, "a string")).resolve()
        gt = None
        if kind == "pairs":
            if "gt" not in d:
                raise c.fail(f"{k}.gt", "required for kind pairs: the ground-truth folder (may use {scene})")
            gt = c.typed(d["gt"], f"{k}.gt", str, "a string")
        iteration = d.get("iteration")
        if iteration is not None:
            c.typed(iteration, f"{k}.iteration", int, "an integer")
        ds = DatasetConfig(
            name=c.typed(d["name"], f"{k}.name", str, "a string"), kind=kind, scenes=scenes, methods=tuple(methods),
            root=root, gt=gt, images=c.typed(d.get("images", "images"), f"{k}.images", str, "a string"),
            iteration=iteration, allow_missing=c.typed(d.get("allow_missing", False), f"{k}.allow_missing", bool, "true or false"))
        for s in scenes:
            for j, m in enumerate(methods):
                p = ds.resolve(m.path, s, base)
                if not p.exists():
                    raise c.fail(f"{k}.methods[{j}].path", f"{p} does not exist (scene {s})")
            if gt is not None and not ds.resolve(gt, s, base).is_dir():
                raise c.fail(f"{k}.gt", f"{ds.resolve(gt, s, base)} is not a folder (scene {s})")
            if root is not None and not (root / s).is_dir():
                raise c.fail(f"{k}.scenes", f"{root / s} is not a folder")
        datasets.append(ds)
    return BenchmarkConfig(name, protocol, metrics, tuple(datasets), path.resolve())
