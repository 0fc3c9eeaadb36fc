"""Protocol settings are declared once (``conventions.settings.SETTINGS``); what the protocols print is pinned.

``tests/golden/protocols.json`` was written from the code before the declarations existed (captions, ``describe``,
store keys, settings, YAML, ``nvs-eval protocols`` text and JSON): deriving them from the declarations must not
change a character of them, nor any stored row's key.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from pathlib import Path

import pytest

from nvs_eval.cli import protocols_cmd
from nvs_eval.conventions.protocols import PROTOCOLS, get_protocol, protocol_from_settings, protocol_yaml, settings_table

GOLDEN = json.loads((Path(__file__).parent / "golden" / "protocols.json").read_text())


def _protocols_output(argv: list[str]) -> str:
    parser = argparse.ArgumentParser()
    protocols_cmd.add_arguments(parser)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        protocols_cmd.run(parser.parse_args(argv))
    return buf.getvalue()


def _protocols():
    protos = {n: get_protocol(n) for n in GOLDEN["captions"] if n not in GOLDEN["custom"]}
    protos.update({k: protocol_from_settings(d, f"{k}.yaml", k) for k, d in GOLDEN["custom"].items()})
    return protos


@pytest.mark.parametrize("what", ["captions", "describe", "keys", "settings", "yaml"])
def test_every_protocol_prints_and_keys_exactly_as_before_the_settings_were_declared(what):
    made = {"captions": lambda p: p.caption(), "describe": lambda p: p.describe(), "keys": lambda p: p.key(),
            "settings": lambda p: p.settings(), "yaml": protocol_yaml}[what]
    assert {k: made(p) for k, p in _protocols().items()} == GOLDEN[what]


def test_protocols_command_and_settings_table_print_exactly_as_before(tmp_path):
    assert _protocols_output([]) == GOLDEN["protocols_text"]
    assert _protocols_output(["--json"]) == GOLDEN["protocols_json"]
    assert settings_table() == GOLDEN["settings_table"]
    (tmp_path / "cropped.yaml").write_text(protocol_yaml(_protocols()["cropped"]))
    assert _protocols_output([str(tmp_path / "cropped.yaml")]).replace(str(tmp_path), "DIR") == \
        GOLDEN["protocols_file"]
    assert set(PROTOCOLS) <= set(GOLDEN["captions"])
