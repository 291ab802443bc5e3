"""The documentation stays true to the repository: every file path README.md, docs/**/*.md and the CLI's help texts
name exists, the README stays short, and no document is organised by when the work was done."""
from __future__ import annotations

import argparse
import glob
import os
import re

import pytest

from ric.cli import build_parser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
DOCS = sorted([README] + glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True))
README_MAX_BYTES = 15 * 1024

# a path into the repository, as the acceptance check greps for it
PATH = re.compile(r"(?:src|scripts|docs|tests|configs)/[A-Za-z0-9_./-]+\.(?:py|md|sh|yaml|json|png|txt)")
# a sentence or heading that counts work periods ("third session", "10th session")
WORK_PERIOD = re.compile(r"(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|[0-9]+(st|nd|rd|th)) "
                         r"session", re.I)


def dangling(text: str) -> list[str]:
    """The repository paths named in `text` that do not exist."""
    return sorted({p for p in PATH.findall(text) if not os.path.exists(os.path.join(ROOT, p))})


def _rel(path: str) -> str:
    return os.path.relpath(path, ROOT)


def help_texts(parser: argparse.ArgumentParser, name: str = "ric") -> dict[str, str]:
    """`--help` of the command and of every sub-command under it, by command line."""
    out = {name: parser.format_help()}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                out.update(help_texts(sub, f"{name} {sub_name}"))
    return out


# -- the checks themselves ---------------------------------------------------------------------------------
def test_the_path_pattern_finds_paths_and_the_check_flags_missing_ones():
    text = "see `src/ric/formats.py`, docs/results.md and scripts/no_such_script.py (and src/ric/weights/*.md)"
    assert PATH.findall(text) == ["src/ric/formats.py", "docs/results.md", "scripts/no_such_script.py"]
    assert dangling(text) == ["scripts/no_such_script.py"]


def test_the_work_period_pattern():
    assert WORK_PERIOD.search("### Tenth session (2026-12-03)")
    assert WORK_PERIOD.search("measured in the 3rd Session")
    assert not WORK_PERIOD.search("a session cookie; the first run of the session table")


# -- the documents ---------------------------------------------------------------------------------------------
def test_the_documents_are_found():
    names = {_rel(p) for p in DOCS}
    assert {"README.md", "docs/results.md", "docs/formats.md", "docs/security.md", "docs/service.md",
            "docs/training.md", "docs/design.md"} <= names


@pytest.mark.parametrize("path", DOCS, ids=_rel)
def test_no_dangling_path(path):
    with open(path, encoding="utf-8") as f:
        assert dangling(f.read()) == [], f"{_rel(path)} names files that do not exist"


@pytest.mark.parametrize("path", DOCS, ids=_rel)
def test_no_work_period_sentence(path):
    with open(path, encoding="utf-8") as f:
        lines = [f"{n}: {ln}" for n, ln in enumerate(f, 1) if WORK_PERIOD.search(ln)]
    assert lines == [], f"{_rel(path)} counts work periods (history lives in git):\n" + "".join(lines)


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: str) -> set[str]:
    with open(path, encoding="utf-8") as f:
        text = re.sub(r"^```.*?^```", "", f.read(), flags=re.S | re.M)      # no headings inside code blocks
    return {slug(h) for h in re.findall(r"^#+\s+(.*)$", text, re.M)}


def test_slug():
    assert slug("The cloud's classifier: EfficientNet-Lite0") == "the-clouds-classifier-efficientnet-lite0"
    assert slug("Why 160×160 stays slow") == "why-160160-stays-slow"


def bad_links(path: str) -> list[str]:
    """The relative links of a Markdown file whose file or heading does not exist."""
    with open(path, encoding="utf-8") as f:
        links = re.findall(r"\]\(([^)\s]+)\)", f.read())
    bad = []
    for link in links:
        if re.match(r"[a-z]+:", link):                     # http:, https:, mailto:
            continue
        target, _, anchor = link.partition("#")
        file = os.path.normpath(os.path.join(os.path.dirname(path), target)) if target else path
        if not os.path.exists(file) or (anchor and file.endswith(".md") and anchor not in anchors(file)):
            bad.append(link)
    return bad


def test_the_link_check_flags_missing_files_and_headings(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## Some part\n")
    page = tmp_path / "page.md"
    page.write_text("# Here\n[a](other.md) [b](other.md#some-part) [c](#here) [d](https://x.org/y#z)\n"
                    "[e](missing.md) [f](other.md#no-such-part) [g](#nowhere)\n")
    assert bad_links(str(page)) == ["missing.md", "other.md#no-such-part", "#nowhere"]


@pytest.mark.parametrize("path", DOCS, ids=_rel)
def test_every_relative_link_and_anchor_exists(path):
    assert bad_links(path) == [], f"{_rel(path)}: links to missing files or headings"


def test_readme_is_short():
    size = os.path.getsize(README)
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes; at most {README_MAX_BYTES} (move text to docs/)"


def test_readme_links_every_topic_page():
    with open(README, encoding="utf-8") as f:
        text = f.read()
    for page in ("usage", "formats", "security", "service", "training", "design", "results"):
        assert f"(docs/{page}.md)" in text, f"README.md does not link docs/{page}.md"


# -- the CLI's help texts ------------------------------------------------------------------------------------------
def test_help_texts_are_collected():
    texts = help_texts(build_parser())
    assert {"ric", "ric encrypt", "ric bench"} <= set(texts)
    assert len(texts) > 20


def test_no_dangling_path_in_help_texts():
    bad = {cmd: dangling(text) for cmd, text in help_texts(build_parser()).items()}
    assert {cmd: paths for cmd, paths in bad.items() if paths} == {}


def test_help_texts_carry_no_history():
    """A help text says what a command does now, not what it used to be called."""
    old = [cmd for cmd, text in help_texts(build_parser()).items() if re.search(r"\bformerly\b", text, re.I)]
    assert old == []
