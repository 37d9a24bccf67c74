"""The documentation site's set-up: every page in the nav, every command on the CLI page, every figure drawn.

These read mkdocs.yml and the pages; they do not run MkDocs (`.ci/run` runs `mkdocs build --strict`).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import click
import pytest
import yaml

from dfembed.cli import main
from tests.support import REPO

DOCS = REPO / "docs"
FIGURES = "assets/generated/"


def _mkdocs() -> dict:
    return yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))


def _nav_pages(nav: list) -> list[str]:
    """Every page path of a MkDocs nav, at any depth."""
    pages = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def _commands(command: click.Command, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], click.Command]:
    """The command and all its sub-commands, at any depth, by their path of names."""
    found = {path: command}
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            found.update(_commands(command.get_command(ctx, name), (*path, name)))
    return found


def _click_blocks(text: str) -> list[dict[str, str]]:
    """The options of every ``::: mkdocs-click`` block of a page."""
    blocks = []
    for match in re.finditer(r"^::: mkdocs-click\n((?:[ \t]+:\w+:.*\n?)+)", text, flags=re.M):
        blocks.append(dict(re.findall(r":(\w+):[ \t]*(.*)", match.group(1))))
    return blocks


def test_every_page_under_docs_is_in_the_nav_and_every_nav_entry_exists() -> None:
    config = _mkdocs()
    assert config["docs_dir"] == "docs"
    nav = _nav_pages(config["nav"])
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md") if FIGURES not in p.as_posix())
    assert sorted(set(pages) - set(nav)) == [], "pages missing from mkdocs.yml's nav"
    assert sorted(set(nav) - set(pages)) == [], "nav entries without a page"
    assert len(nav) == len(set(nav)), "a page listed twice"


def test_the_cli_page_documents_the_whole_command_group() -> None:
    config = _mkdocs()
    assert "mkdocs-click" in config["markdown_extensions"]
    blocks = _click_blocks((DOCS / "reference" / "cli.md").read_text(encoding="utf-8"))
    # one block for the group: mkdocs-click then renders every sub-command, at any depth
    assert [(b["module"], b["command"]) for b in blocks] == [("dfembed.cli", "main")]
    commands = _commands(main)
    assert {"crop", "train", "infer", "evaluate", "export", "demo"} <= {p[0] for p in commands if p}
    assert ("detectors", "compare") in commands
    if blocks[0].get("show_hidden", "false").lower() != "true":
        hidden = [" ".join(p) for p, c in commands.items() if c.hidden]
        assert hidden == [], "hidden commands are left out of the CLI page"


def _rendered_cli_reference() -> str:
    """The Markdown that mkdocs-click makes of the CLI page's block, with the block's own settings."""
    from mkdocs_click._docs import make_command_docs

    block = _click_blocks((DOCS / "reference" / "cli.md").read_text(encoding="utf-8"))[0]
    flag = {"true": True, "false": False}
    lines = make_command_docs(block["prog_name"], main, depth=int(block.get("depth", 0)),
                              style=block.get("style", "plain"),
                              list_subcommands=flag[block.get("list_subcommands", "false")],
                              show_hidden=flag[block.get("show_hidden", "false")])
    return "\n".join(lines)


def test_the_cli_reference_shows_every_command_and_every_option() -> None:
    rendered = _rendered_cli_reference()
    headings = {line.lstrip("#").strip() for line in rendered.splitlines() if line.startswith("#")}
    missing = []
    for path, command in _commands(main).items():
        if path and path[-1] not in headings:
            missing.append(" ".join(path))
        usage = f"dfembed {' '.join(path)}".strip()
        if usage not in rendered:
            missing.append(f"usage of {usage}")
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                missing += [f"{usage} {decl}" for decl in (*param.opts, *param.secondary_opts) if decl not in rendered]
    assert missing == [], "left out of the CLI reference"


def test_the_cli_page_lists_every_renamed_command_with_its_new_name() -> None:
    text = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    for old, (new, *_where) in main._renamed.items():
        assert f"`dfembed {old}`" in text and f"`dfembed {new}`" in text, old


def test_the_api_page_names_importable_modules() -> None:
    text = (DOCS / "reference" / "api.md").read_text(encoding="utf-8")
    targets = re.findall(r"^::: ([\w.]+)$", text, flags=re.M)
    assert "dfembed" in targets and "dfembed.train.sbi" in targets
    def is_module(name: str) -> bool:
        path = REPO.joinpath(*name.split("."))
        return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()

    for target in targets:
        module = target
        while not is_module(module):  # a function or class: its module is a file of the package
            module = module.rpartition(".")[0]
            assert module, f"{target} names no module of dfembed"


def test_every_figure_a_page_shows_is_drawn_by_gen_figures() -> None:
    script = (DOCS / "gen_figures.py").read_text(encoding="utf-8")
    drawn = set(re.findall(r'out / "([\w.-]+\.png)"', script))
    shown = {m for p in DOCS.rglob("*.md") for m in re.findall(FIGURES + r"([\w.-]+\.png)", p.read_text("utf-8"))}
    assert shown and shown <= drawn, f"figures no one draws: {sorted(shown - drawn)}"
    assert any(h.endswith("figures.py") for h in _mkdocs()["hooks"]), "the figures are drawn by the build hook"


def test_placeholders_in_help_texts_are_shown_as_text() -> None:
    pytest.importorskip("markdown")
    spec = importlib.util.spec_from_file_location("placeholders", DOCS / "hooks" / "placeholders.py")
    placeholders = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(placeholders)
    assert placeholders.escape("<video>-<NNN>.<ext> and `<kept>`") == "&lt;video>-&lt;NNN>.&lt;ext> and `<kept>`"
    assert placeholders.escape("`a/<b>/\n<c>.mp4` <d>") == "`a/<b>/\n<c>.mp4` &lt;d>"  # a code span over two lines
    assert placeholders.escape("a < b > c") == "a < b > c"
