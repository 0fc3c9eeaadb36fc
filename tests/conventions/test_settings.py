"""Protocol settings are declared once (``conventions.settings.SETTINGS``); what the protocols print is pinned.

``tests/golden/protocols.json`` was written from the code before the declarations existed (captions, ``describe``,
store keys, settings, YAML, ``nvs-eval protocols`` text and JSON): deriving them from the declarations must not
change a character of them, nor any stored row's key. (The changes since: docs/protocols.md's table of YAML keys
lists ``lpips_version`` after ``metrics``, in declaration order; issue 34b's ``plugin`` setting added one key to
``settings()``, the YAML and ``--json``, and one row to the table, nothing else.)
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from nvs_eval.cli import build_parser
from nvs_eval.config import load_config
from nvs_eval.conventions import protocols as P
from nvs_eval.conventions.settings import SETTINGS, Setting
from nvs_eval.errors import ConfigError, UsageError

GOLDEN = json.loads((Path(__file__).parents[1] / "golden" / "protocols.json").read_text())


def _protocols():
    protos = {n: P.get_protocol(n) for n in GOLDEN["captions"] if n not in GOLDEN["custom"]}
    protos.update({k: P.protocol_from_settings(d, f"{k}.yaml", k) for k, d in GOLDEN["custom"].items()})
    return protos


@pytest.mark.parametrize("what", ["captions", "describe", "keys", "settings", "yaml"])
def test_every_protocol_prints_and_keys_exactly_as_before_the_settings_were_declared(what):
    made = {"captions": lambda p: p.caption(), "describe": lambda p: p.describe(), "keys": lambda p: p.key(),
            "settings": lambda p: p.settings(), "yaml": P.protocol_yaml}[what]
    assert {k: made(p) for k, p in _protocols().items()} == GOLDEN[what]


def test_protocols_command_and_settings_table_print_exactly_as_before(tmp_path, capsys):
    from nvs_eval.cli import main

    assert main(["protocols"]) == 0 and capsys.readouterr().out == GOLDEN["protocols_text"]
    assert main(["protocols", "--json"]) == 0 and capsys.readouterr().out == GOLDEN["protocols_json"]
    assert P.settings_table() == GOLDEN["settings_table"]
    (tmp_path / "cropped.yaml").write_text(P.protocol_yaml(_protocols()["cropped"]))
    assert main(["protocols", str(tmp_path / "cropped.yaml")]) == 0
    assert capsys.readouterr().out.replace(str(tmp_path), "DIR") == GOLDEN["protocols_file"]
    assert set(P.PROTOCOLS) <= set(GOLDEN["captions"])


GAMMA = Setting("gamma", "none", ("none", "2.2"), "none, or the gamma renders are decoded with: {values}",
                caption="renders decoded with gamma {value}", source="some/tool eval.py:12-20", opt_in=True,
                in_config=True, cli_help="opt-in: decode renders with this gamma")


def test_a_setting_declared_in_one_place_reaches_validation_yaml_config_cli_listing_and_caption(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(SETTINGS, "gamma", GAMMA)
    base = P.PROTOCOLS["3dgs"]
    assert base.gamma == "none" and base.key() == GOLDEN["keys"]["3dgs"]  # at its default: no stored key moves
    with pytest.raises(UsageError, match="unknown gamma '1.8'"):  # validation
        replace(base, gamma="1.8")
    with pytest.raises(UsageError, match=r"g\.yaml: gamma: '1\.8' is not one of none, 2\.2"):
        P.protocol_from_settings({"base": "3dgs", "gamma": "1.8"}, "g.yaml")
    (tmp_path / "g.yaml").write_text("base: 3dgs\ngamma: '2.2'\n")  # YAML loading, and back
    p = P.load_protocol_file(tmp_path / "g.yaml")
    assert p.gamma == "2.2" and p.key() != base.key() and P.protocol_from_settings(p.settings()).key() == p.key()
    assert "renders decoded with gamma 2.2" in p.caption() and "gamma 2.2" in p.describe()  # caption
    assert "\n  gamma            2.2\n" in P.protocols_listing(tmp_path / "g.yaml")  # nvs-eval protocols
    assert "gamma            " not in P.protocols_listing()  # no preset changes it
    assert "| `gamma` | none, or the gamma renders are decoded with: none, 2.2 | `none` |" in P.settings_table()
    named = P.get_protocol("3dgs+gamma=2.2")  # an opt-in: carried in the name, a config key, a CLI flag
    assert named.gamma == "2.2" and "renders decoded with gamma 2.2" in named.caption()
    (tmp_path / "gt").mkdir()
    (tmp_path / "m").mkdir()
    cfg = tmp_path / "bench.yaml"
    cfg.write_text("protocol: 3dgs\ngamma: '2.2'\ndatasets: [{name: d, kind: pairs, gt: gt, scenes: [s], "
                   "methods: [{name: m, path: m}]}]\n")
    assert load_config(cfg).setting("gamma") == "2.2"
    cfg.write_text(cfg.read_text().replace("'2.2'", "'1.8'"))
    with pytest.raises(ConfigError, match="gamma: unknown gamma '1.8'"):
        load_config(cfg)
    args = build_parser().parse_args(["score", str(tmp_path), "--gamma", "2.2"])
    from nvs_eval.cli._common import protocol_from_args

    assert protocol_from_args(args).name == "nvs-eval+gamma=2.2"
