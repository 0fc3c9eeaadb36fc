"""Benchmarks as configuration: YAML in ``configs/`` loaded into frozen dataclasses, validated once.

Errors name the file and the key (``configs/x.yaml: datasets[0].methods[1].path: ...``). Paths are relative to
the YAML file's folder; ``{scene}`` in a path is replaced by each scene's name.

.. code-block:: yaml

    name: my-benchmark
    protocol: nvs-eval            # optional, default nvs-eval; or a protocol YAML (nvs-eval explain writes one)
    resize_gt: none               # optional opt-in: area | bicubic-pil | lanczos-pil | antialias-torch
    appearance_fit: affine        # optional opt-in under nerfw: gain-bias | affine | color-correct
    strict: false                 # optional: auxiliary files (<view>_depth.png, ...) are an error
    aggregation: view-mean        # optional: view-mean | pooled-mse | scene-weighted (stated in every caption)
    metrics: [psnr, ssim, lpips_vgg]   # optional, default: the protocol's
    datasets:
      - name: nerf-synthetic
        kind: blender             # a layout (pairs, 3dgs, gsplat, multinerf, ...) or a dataset kind
                                  # (blender, llff, mipnerf360); README.md lists them all
        root: data/nerf_synthetic # dataset kinds: one scene folder per scene under root
        gt: gt/{scene}            # pairs: the ground-truth folder
        images: images_4          # llff / mipnerf360: which image folder
        iteration: 30000          # 3dgs: which test/ours_<iteration> (default latest)
        scenes: [lego, chair]
        allow_missing: false
        gt_kind: mipnerf360       # multinerf: whose held-out views (under root/<scene>) are the ground truth;
                                  # other layouts: the dataset their ground truth is checked against (nvs-eval check)
        masks: masks/{scene}      # masked_* metrics: a mask image per view (or mask_from_gt_alpha: true)
        baselines: blender        # published results beside yours in the tables (`nvs-eval baselines`)
        methods:
          - {name: nerfacto, path: renders/nerfacto/{scene}}
          - {name: 3dgs, path: "runs/{run}/{scene}", runs: [seed0, seed1, seed2]}   # several runs: mean ± std
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from .conventions.protocols import PROTOCOLS
from .conventions.registry import METRICS
from .errors import ConfigError


def kinds() -> tuple[str, ...]:
    """Every dataset ``kind`` a config accepts: the layouts and the dataset kinds (one registry each)."""
    from .data.datasets import DATASET_KINDS
    from .data.layouts import LAYOUTS

    return (*LAYOUTS, *DATASET_KINDS)


@dataclass(frozen=True)
class MethodConfig:
    """One method (or one run of it: ``runs:`` in the config expands a method into one entry per run)."""

    name: str
    path: str
    run: str | None = None
    index: int = 0  # its place in the config's methods list (for error messages)

    @property
    def key(self) -> str:
        """The name it is scored and stored under: ``name``, or ``name#run=<run>`` for one of several runs."""
        from .results.aggregate import run_key

        return run_key(self.name, self.run)


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
    gt_kind: str | None = None  # multinerf: the dataset kind whose held-out views are the ground truth; another
    # layout: the dataset kind (under root/<scene>) its ground truth is checked against
    masks: str | None = None  # masked metrics: a folder of masks per scene (may use {scene})
    mask_from_gt_alpha: bool = False  # masked metrics: the ground truth's alpha channel is the mask
    baselines: str | None = None  # published results printed beside this dataset's methods (nvs_eval.baselines)
    eval_index: Path | None = None  # pixelsplat: the evaluation index JSON (root: the dataset's root)
    efficiency: Path | None = None  # a CSV of efficiency figures for tools that record none (docs/efficiency.md)

    def resolve(self, template: str, scene: str, base: Path) -> Path:
        return (base / template.replace("{scene}", scene)).resolve()


@dataclass(frozen=True)
class BenchmarkConfig:
    name: str
    protocol: str
    metrics: tuple[str, ...] | None
    datasets: tuple[DatasetConfig, ...]
    source: Path
    strict: bool = False
    # the declared protocol settings the config sets at its top level (conventions.settings: resize_gt,
    # appearance_fit, aggregation); one not given is the protocol's own
    settings: tuple[tuple[str, str], ...] = ()

    def setting(self, key: str, default: str | None = None) -> str | None:
        """The value the config gives a declared protocol setting, or ``default``."""
        return dict(self.settings).get(key, default)

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
            from .conventions.registry import closest

            near = closest(unknown[0], allowed)
            raise self.fail(f"{key}.{unknown[0]}" if key else unknown[0],
                            f"unknown key{near}" if near else f"unknown key; allowed: {', '.join(sorted(allowed))}")
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

    def choice(self, obj, key: str, choices, what: str) -> str:
        self.typed(obj, key, str, "a string")
        if obj not in choices:
            from .conventions.registry import closest

            near = closest(obj, choices)
            raise self.fail(key, f"unknown {what} {obj!r}{near}" if near else
                            f"unknown {what} {obj!r}; known: {', '.join(choices)}")
        return obj


def _read_yaml(path: Path):
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read config ({e})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None


def load_config(path: Path | str) -> BenchmarkConfig:
    """Load and validate a benchmark YAML file.

    Raises:
        ConfigError: naming the file and the key (``configs/x.yaml: datasets[0].kind: unknown kind ...``).
    """
    from .conventions.settings import config_settings

    path = Path(path)
    c = _Checker(path)
    declared = config_settings()
    raw = c.mapping(_read_yaml(path), "", {"name", "protocol", "metrics", "datasets", "strict",
                                           *(s.name for s in declared)},
                    {"datasets"})
    name = c.typed(raw.get("name", path.stem), "name", str, "a string")
    protocol = raw.get("protocol", "nvs-eval")
    if isinstance(protocol, str) and protocol.endswith((".yaml", ".yml")):  # a custom protocol file (explain writes)
        from .conventions.protocols import load_protocol_file

        protocol = str((path.parent / protocol).resolve())
        try:
            load_protocol_file(protocol)
        except Exception as e:  # noqa: BLE001 - reported as the config's error, naming the key
            raise c.fail("protocol", str(e)) from None
    else:
        protocol = c.choice(protocol, "protocol", tuple(PROTOCOLS), "protocol")
    metrics = None
    if "metrics" in raw:
        metrics = tuple(c.choice(m, f"metrics[{i}]", tuple(METRICS), "metric")
                        for i, m in enumerate(c.str_list(raw["metrics"], "metrics")))
    strict = c.typed(raw.get("strict", False), "strict", bool, "true or false")
    settings = tuple((s.name, c.choice(raw[s.name], s.name, s.values(), s.noun or s.name.replace("_", " ")))
                     for s in declared if s.name in raw)
    datasets_raw = c.typed(raw["datasets"], "datasets", list, "a list of datasets")
    if not datasets_raw:
        raise c.fail("datasets", "expected at least one dataset")
    datasets = tuple(_dataset(c, d, f"datasets[{i}]", path.parent) for i, d in enumerate(datasets_raw))
    return BenchmarkConfig(name, protocol, metrics, datasets, path.resolve(), strict, settings)


def _methods(c: _Checker, d: dict, k: str) -> tuple[MethodConfig, ...]:
    methods_raw = c.typed(d["methods"], f"{k}.methods", list, "a list of methods")
    if not methods_raw:
        raise c.fail(f"{k}.methods", "expected at least one method")
    from .results.aggregate import RUN_SEP

    methods = []
    for j, m in enumerate(methods_raw):
        mk = f"{k}.methods[{j}]"
        m = c.mapping(m, mk, {"name", "path", "runs"}, {"name"})
        name = c.typed(m["name"], f"{mk}.name", str, "a string")
        if RUN_SEP in name:
            raise c.fail(f"{mk}.name", f"{name!r}: '{RUN_SEP}' separates a method from its run; rename it")
        if "runs" not in m:
            if "path" not in m:
                raise c.fail(f"{mk}.path", "required (or runs:)")
            methods.append(MethodConfig(name, c.typed(m["path"], f"{mk}.path", str, "a string"), None, j))
            continue
        runs = m["runs"]
        if isinstance(runs, dict):  # {run: path}
            pairs = [(c.typed(r, f"{mk}.runs", str, "run names"), c.typed(p, f"{mk}.runs.{r}", str, "a string"))
                     for r, p in runs.items()]
        else:  # a list of paths, or of run names filled into path's {run}
            items = c.str_list(runs, f"{mk}.runs")
            if "path" in m:
                path = c.typed(m["path"], f"{mk}.path", str, "a string")
                if "{run}" not in path:
                    raise c.fail(f"{mk}.path", "with runs: [names], the path must contain {run}")
                pairs = [(r, path.replace("{run}", r)) for r in items]
            else:
                pairs = [(f"run{i + 1}", p) for i, p in enumerate(items)]
        if len(pairs) < 1 or len({r for r, _ in pairs}) != len(pairs):
            raise c.fail(f"{mk}.runs", f"expected distinct run names, got {[r for r, _ in pairs]}")
        methods += [MethodConfig(name, p, r if len(pairs) > 1 else None, j) for r, p in pairs]
    names = [m.key for m in methods]
    if len(set(names)) != len(names):
        raise c.fail(f"{k}.methods", f"method names must be unique, got {names}")
    return tuple(methods)


_DATASET_KEYS = {"name", "kind", "root", "gt", "images", "iteration", "scenes", "methods", "allow_missing", "gt_kind",
                 "masks", "mask_from_gt_alpha", "baselines", "eval_index", "efficiency"}


def _dataset(c: _Checker, d, k: str, base: Path) -> DatasetConfig:
    from .data.sources import source_of

    d = c.mapping(d, k, _DATASET_KEYS, {"name", "kind", "methods", "scenes"})
    kind = c.choice(d["kind"], f"{k}.kind", kinds(), "kind")
    source = source_of(kind)  # where its ground truth comes from: the keys it needs, their paths, its scenes
    scenes = () if source.all_scenes and d["scenes"] == "all" else c.str_list(d["scenes"], f"{k}.scenes")
    if not scenes and d["scenes"] != "all":
        raise c.fail(f"{k}.scenes", "expected at least one scene")
    iteration = d.get("iteration")
    if iteration is not None:
        c.typed(iteration, f"{k}.iteration", int, "an integer")
    ds = DatasetConfig(
        name=c.typed(d["name"], f"{k}.name", str, "a string"), kind=kind, scenes=scenes, methods=_methods(c, d, k),
        images=c.typed(d.get("images", "images"), f"{k}.images", str, "a string"),
        iteration=iteration, allow_missing=c.typed(d.get("allow_missing", False), f"{k}.allow_missing", bool,
                                                   "true or false"),
        masks=c.typed(d["masks"], f"{k}.masks", str, "a string") if "masks" in d else None,
        mask_from_gt_alpha=c.typed(d.get("mask_from_gt_alpha", False), f"{k}.mask_from_gt_alpha", bool,
                                   "true or false"),
        baselines=c.choice(d["baselines"], f"{k}.baselines", tuple(_baseline_names()), "baselines file")
        if "baselines" in d else None,
        efficiency=(base / c.typed(d["efficiency"], f"{k}.efficiency", str, "a CSV file")).resolve()
        if "efficiency" in d else None, **source.read(c, d, k, kind, base))
    if ds.efficiency is not None and not ds.efficiency.is_file():
        raise c.fail(f"{k}.efficiency", f"{ds.efficiency} is not a file (a CSV: method,scene,figure,value,unit,source)")
    source.check(c, ds, k, base)
    return ds


def _baseline_names() -> list[str]:
    from .baselines import datasets

    return datasets()
