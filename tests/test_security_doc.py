"""docs/security.md names, for every guarantee, the tests that check it: every name must exist."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "security.md"


def _references() -> list[tuple[str, str]]:
    """(test file, test name) for each ``tests/x.py::[Class::]name`` and each following ``::name`` of that file."""
    found, current = [], None
    for match in re.finditer(r"`(tests/[\w/]+\.py)?((?:::\w+)+)?`", DOC.read_text(encoding="utf-8")):
        path, names = match.groups()
        if path:
            current = path
        if names and current:
            found.append((current, names.split("::")[-1]))
    return found


def test_every_test_named_in_security_md_exists():
    references = _references()
    assert len(references) > 40
    missing = [(path, name) for path, name in references
               if not (ROOT / path).is_file() or not re.search(rf"def {name}\(", (ROOT / path).read_text())]
    assert missing == []


def test_security_md_has_a_section_for_every_item_of_issue_9():
    headings = re.findall(r"^### (\d+)\. ", DOC.read_text(encoding="utf-8"), re.MULTILINE)
    assert [int(n) for n in headings] == list(range(1, 17))
