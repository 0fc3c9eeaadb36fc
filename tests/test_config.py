"""Benchmark configs: the shipped examples are valid up to their (absent) data; errors name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from nvs_eval.config import load_config
from nvs_eval.errors import ConfigError

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_example_configs_fail_only_on_their_absent_data(path):
    with pytest.raises(ConfigError) as e:
        load_config(path)
    msg = str(e.value)
    assert msg.startswith(str(path)) and ("does not exist" in msg or "is not a folder" in msg), msg


def test_example_configs_cover_every_kind():
    import yaml

    from nvs_eval.config import kinds as registered

    kinds = {d["kind"] for p in CONFIGS for d in yaml.safe_load(p.read_text())["datasets"]}
    assert kinds == set(registered())  # every layout and dataset kind of the registries has an example


@pytest.mark.parametrize("text,needle", [
    ("datasets: []", "datasets: expected at least one dataset"),
    ("protocol: foo\ndatasets: [1]", "protocol: unknown protocol 'foo'"),
    ("datasets:\n  - {name: d, kind: pairs, scenes: [a], methods: [{name: m, path: x}]}", "datasets[0].gt: required"),
    ("datasets:\n  - {name: d, kind: weird, scenes: [a], methods: []}", "datasets[0].kind: unknown kind 'weird'"),
    ("metrics: [psnr, lpips_foo]\ndatasets: [1]", "metrics[1]: unknown metric 'lpips_foo'"),
    ("datasets:\n  - {name: d, kind: 3dgs, iteration: '7k', scenes: [a], methods: [{name: m, path: x}]}",
     "datasets[0].iteration: expected an integer"),
    ("a: [", "not valid YAML"),
    ("datasets:\n  - {name: d, kind: multinerf, root: r, scenes: [a], methods: [{name: m, path: x}]}",
     "datasets[0].gt_kind: required for kind multinerf"),
    ("resize_gt: nearest\ndatasets: [1]", "resize_gt: unknown resize method 'nearest'"),
])
def test_config_errors_name_the_key(tmp_path, text, needle):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=None) as e:
        load_config(p)
    assert str(e.value).startswith(str(p)) and needle in str(e.value), str(e.value)
