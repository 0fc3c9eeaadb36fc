"""Every ``nvs-eval`` command README.md and docs/ show runs, so a page cannot drift from the code again.

A command counts when it is a line of a fenced block (``nvs-eval ...``, ``$ nvs-eval ...``, ``torchrun ...``,
``srun ...``, with ``\\`` continuations) or an inline ``nvs-eval ...`` span that names the demo's files
(``demo/...``). Each runs here, in a folder where ``demo`` is the demo's output (the one `.ci/run` makes from
README's ``nvs-eval demo``) and where every fenced YAML block that starts with ``# file: NAME`` is written as
``NAME``. A command that cannot run on the demo says so on its own line, with a ``# needs ...`` comment (``# needs a
dataset``, ``# needs 8 GPUs``, ``# needs your renders``): nothing else is exempt.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest

from helpers import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
STARTS = ("nvs-eval ", "torchrun ", "srun ")
FENCE = re.compile(r"^```([A-Za-z]*)\n(.*?)^```", re.S | re.M)


def _fenced(text: str):
    for lang, block in FENCE.findall(text):
        if lang in ("yaml", "python", "json", "toml"):
            continue
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i].strip().removeprefix("$ ")
            while line.endswith("\\") and i + 1 < len(lines):
                i += 1
                line = line[:-1].rstrip() + " " + lines[i].strip()
            if line.startswith(STARTS):
                yield line
            i += 1


def commands() -> list[tuple[str, str]]:
    """``(page, command)`` for every command the pages show."""
    out = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        out += [(page.name, c) for c in _fenced(text)]
        out += [(page.name, c) for c in re.findall(r"`(nvs-eval [^`]*)`", text) if "demo/" in c]
    return out


def files() -> dict[str, str]:
    """The YAML blocks the pages name as files (``# file: NAME`` on their first line)."""
    found = {}
    for page in PAGES:
        for lang, block in FENCE.findall(page.read_text(encoding="utf-8")):
            m = re.match(r"# file: (\S+)\n", block)
            if lang == "yaml" and m:
                found[m.group(1)] = block
    return found


def test_the_pages_show_commands_and_the_collector_finds_them():
    found = commands()
    assert len(found) >= 10 and any("floater-gs/seed0/astronaut" in c for _, c in found), found
    assert "some-paper.yaml" in files()


RUNNABLE = [(p, c) for p, c in commands() if "# needs " not in c]


@pytest.mark.parametrize("page,command", RUNNABLE, ids=[f"{p}:{c[:60]}" for p, c in RUNNABLE])
def test_every_command_on_the_pages_runs_on_the_demo(demo_report, tmp_path, page, command):
    (tmp_path / "demo").symlink_to(demo_report)
    for name, text in files().items():
        (tmp_path / name).write_text(text)
    words = shlex.split(command.split(" #")[0])
    assert words[0] == "nvs-eval", f"{page}: {command}: only nvs-eval commands can run here; mark it # needs ..."
    r = subprocess.run([sys.executable, "-m", "nvs_eval", *words[1:]], cwd=tmp_path, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, f"{page}: `{command}` exited {r.returncode}:\n{r.stderr[-2000:]}"


def test_a_command_that_cannot_run_on_the_demo_says_what_it_needs():
    """The marker is a reason, not a blanket: ``# needs`` followed by what the command needs."""
    for page, c in commands():
        if "# needs" in c:
            assert re.search(r"# needs \w+", c), f"{page}: {c}"
