"""The README's state diagram is the machine's own rendering, and it gives the two commands."""

from __future__ import annotations

import re
from pathlib import Path

from workflows.machine import mermaid

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_diagram_matches_the_machine() -> None:
    blocks = re.findall(r"```mermaid\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1
    assert blocks[0].strip() == mermaid().strip()


def test_readme_starts_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    first_section = text.split("\n## ")[1]
    assert first_section.startswith("The two commands")
    assert "make demo" in first_section
    assert "make test" in first_section
