"""The manual stays true to the code: its links resolve, and docs/configuration.md names every
config group, every option of the model group and every preset."""

import re

import pytest

from seqlab.experiments.config.model import model_options
from seqlab.paths import conf_dir
from tests.conftest import PROJECT_ROOT

PAGES = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page) -> set[str]:
    """GitHub's anchors of a Markdown page's headings (outside code blocks)."""
    found, in_code = set(), False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", title)))
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_resolves(page):
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no file {linked}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.name}")
    assert not broken, broken


def test_the_configuration_page_names_every_group_model_and_preset():
    page = (PROJECT_ROOT / "docs" / "configuration.md").read_text()
    groups = {path.parent.name for path in conf_dir().glob("*/*.yaml")} | {"hydra/launcher"}
    groups.discard("hydra")
    presets = {path.stem for path in (conf_dir() / "experiment").glob("*.yaml")}
    names = groups | presets | set(model_options())
    assert not {name for name in names if f"`{name}`" not in page}
