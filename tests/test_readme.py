"""Every command of the README's Quick start and Examples, and of the guide's Learned generators, runs
(shrunk by MIXING_SMOKE=1).

The bash blocks of those sections are run as written, in a fresh folder, with two edits:
the install prefix (``pip install -e . &&`` or ``pip install -e ".[dev]" &&``) is dropped (the suite runs installed) and
the line that runs the suite itself (``python -m pytest``) is skipped. A README command
that breaks fails this test.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = (("README.md", "Quick start"), ("README.md", "Examples"), ("docs/guide.md", "Learned generators"))
INSTALL = re.compile(r'^pip install -e (\.|"\.\[[a-z,]+\]") && ')


def section(text: str, title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert m, f"no section {title!r}"
    return m.group(1)


def blocks():
    out = []
    for doc, title in SECTIONS:
        found = re.findall(r"```bash\n(.*?)```", section((ROOT / doc).read_text(), title), flags=re.S)
        assert found, f"no bash block in {title!r}"
        for k, block in enumerate(found):
            lines = []
            for line in block.splitlines():
                line = INSTALL.sub("", line)
                if line.split("#")[0].strip() == "python -m pytest":
                    continue
                lines.append(line)
            out.append(pytest.param("\n".join(lines), id=f"{title.replace(' ', '-')}-{k}"))
    return out


def test_the_readme_has_commands():
    assert len(blocks()) >= 2


@pytest.mark.slow
@pytest.mark.parametrize("script", blocks())
def test_readme_block_runs(script, tmp_path):
    # "python" in the README is the interpreter running this suite, whatever PATH holds
    bin_dir = tmp_path.parent / f"{tmp_path.name}-bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    env = {**os.environ, "MIXING_SMOKE": "1", "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"{script}\n--- stderr ---\n{proc.stderr[-3000:]}"
