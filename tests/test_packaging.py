"""The package's console scripts point at the command lines' main functions."""

import importlib
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_console_scripts_resolve_to_the_command_lines():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(scripts) == {
        "mixing-sweep",
        "mixing-proofs",
        "mixing-figures",
        "mixing-lm",
        "mixing-learn",
        "mixing-plot",
    }
    for target in scripts.values():
        module, _, name = target.partition(":")
        assert callable(getattr(importlib.import_module(module), name)), target


def test_license_and_citation_are_shipped():
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert "arXiv:2606.24975" in (ROOT / "CITATION.cff").read_text()
