"""The README and docs/ keep their promises: every relative link resolves (file and #anchor), every
`python -m <module>` they show exists and answers --help, and every `sls <subcommand>` they show is
one this project's Serverless CLI and plugins provide.

Commands are read from fenced code blocks and inline code spans only; a line such as
`.venv/bin/python -m local.run --image x.jpg` counts as `python -m local.run`.
"""
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

FENCE = re.compile(r"^\s{0,3}(```|~~~)")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
PYTHON_M = re.compile(r"\bpython(?:3(?:\.\d+)?)?\s+-m\s+([A-Za-z_][\w.]*\w)")
SLS = re.compile(r"\bsls[ \t]+([a-z][\w-]*)([^\n#`]*)")  # the rest of its line, up to a comment

# Serverless Framework (osls 4) commands this project uses; plugin commands need their plugin.
SLS_CORE_COMMANDS = {"deploy", "package", "invoke", "info", "remove", "logs", "print", "rollback", "metrics"}
SLS_PLUGIN_COMMANDS = {("invoke", "stepf"): "serverless-step-functions",
                       ("offline", None): "serverless-offline",
                       ("requirements", None): "serverless-python-requirements"}


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped (hyphens, spaces and word
    characters kept, as GitHub keeps them), spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading anchors by its text
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def split_page(text: str):
    """(prose, code): the page outside fenced blocks, and the fenced blocks' contents."""
    prose, code, fenced = [], [], None
    for line in text.split("\n"):
        opened = FENCE.match(line)
        if fenced is None and opened:
            fenced = opened.group(1)
            prose.append("")
        elif fenced is not None and line.strip().startswith(fenced):
            fenced = None
            prose.append("")
        elif fenced is not None:
            code.append(line)
        else:
            prose.append(line)
    return "\n".join(prose), "\n".join(code)


def code_spans(prose: str):
    """Inline code spans, paragraph by paragraph (a span never crosses a blank line)."""
    for paragraph in re.split(r"\n\s*\n", prose):
        for match in CODE_SPAN.finditer(paragraph):
            yield match.group(2)


def anchors(page: Path) -> set:
    prose, _ = split_page(page.read_text(encoding="utf-8"))
    seen, slugs = {}, set()
    for line in prose.split("\n"):
        match = HEADING.match(line)
        if match:
            slug = github_slug(match.group(2))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            slugs.add(slug if count == 0 else f"{slug}-{count}")
    return slugs


def collect():
    links, commands = [], []
    for page in PAGES:
        prose, code = split_page(page.read_text(encoding="utf-8"))
        spans = list(code_spans(prose))
        commands += [(page, text) for text in [code, *spans]]
        outside_code = CODE_SPAN.sub("code", prose)
        links += [(page, target) for target in LINK.findall(outside_code)]
    return links, commands


LINKS, COMMAND_TEXTS = collect()
RELATIVE_LINKS = [(page, target) for page, target in LINKS
                  if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE)]
MODULES = sorted({module for _, text in COMMAND_TEXTS for module in PYTHON_M.findall(text)})
SLS_COMMANDS = sorted({(match.group(1), " ".join(match.group(2).split()))
                       for _, text in COMMAND_TEXTS for match in SLS.finditer(text)})


def repository_module_file(module: str):
    """The file `python -m module` runs when the module belongs to this repository, else None."""
    path = REPO.joinpath(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__main__.py"):
        if candidate.is_file():
            return candidate
    return None


def is_repository_package(module: str) -> bool:
    return (REPO / module.split(".")[0]).is_dir() and not module.split(".")[0].startswith(".")


def test_the_docs_are_found_and_hold_enough_to_check():
    assert (REPO / "docs" / "README.md") in PAGES and len(PAGES) >= 10, PAGES
    assert len(RELATIVE_LINKS) > 20, RELATIVE_LINKS
    assert len(MODULES) > 5, MODULES
    assert len([m for m in MODULES if repository_module_file(m)]) > 5, MODULES
    assert any(command == "invoke" and rest.startswith("stepf") for command, rest in SLS_COMMANDS), SLS_COMMANDS


def test_the_readme_starts_with_the_two_commands():
    first_block = split_page((REPO / "README.md").read_text(encoding="utf-8"))[1].split("\n")[:2]
    assert first_block[0].startswith("bin/setup && .venv/bin/python -m local.run "), first_block
    assert first_block[1].startswith("bin/setup && .venv/bin/python -m pytest "), first_block


def test_every_page_starts_with_what_it_answers():
    for page in (REPO / "docs").glob("*.md"):
        if page.name == "README.md":
            continue
        prose = page.read_text(encoding="utf-8").split("\n\n")
        assert prose[1].startswith("This page answers:"), page.name


@pytest.mark.parametrize("page,target", RELATIVE_LINKS,
                         ids=[f"{page.relative_to(REPO)}->{target}" for page, target in RELATIVE_LINKS])
def test_relative_link_resolves(page, target):
    path_part, _, anchor = target.partition("#")
    destination = (page.parent / path_part).resolve() if path_part else page
    assert destination.exists(), f"{page.relative_to(REPO)}: {target} does not exist"
    if anchor:
        assert destination.suffix == ".md", f"{page.relative_to(REPO)}: {target}: an anchor into a non-markdown file"
        assert anchor in anchors(destination), (
            f"{page.relative_to(REPO)}: {target}: no heading of {destination.name} has the slug {anchor!r}")


@pytest.mark.parametrize("module", MODULES)
def test_python_m_module_exists(module):
    module_file = repository_module_file(module)
    if module_file is None:
        assert not is_repository_package(module), f"python -m {module}: no such file in this repository"
        assert importlib.util.find_spec(module) is not None, f"python -m {module}: not installed"
        return
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    assert importlib.util.find_spec(module) is not None, f"python -m {module}: not importable"
    result = subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, f"python -m {module} --help exited {result.returncode}:\n{result.stderr[-2000:]}"
    assert "usage:" in result.stdout.lower(), result.stdout[:500]


SERVERLESS = yaml.safe_load((REPO / "serverless.yml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("command,rest", SLS_COMMANDS, ids=[f"sls {c} {r}".strip() for c, r in SLS_COMMANDS])
def test_sls_command_exists(command, rest):
    words = rest.split()
    subcommand = words[0] if words and not words[0].startswith("-") else None
    plugin = SLS_PLUGIN_COMMANDS.get((command, subcommand)) or SLS_PLUGIN_COMMANDS.get((command, None))
    if plugin:
        assert plugin in SERVERLESS["plugins"], f"sls {command} {subcommand or ''} needs {plugin} in serverless.yml"
    else:
        assert command in SLS_CORE_COMMANDS, f"sls {command}: not a Serverless command this project uses"
        assert command != "invoke" or subcommand in (None, "local"), f"sls invoke {subcommand}: unknown"

    def option(name):
        return words[words.index(name) + 1] if name in words[:-1] else None

    if (command, subcommand) == ("invoke", "stepf") and option("--name"):
        assert option("--name") in SERVERLESS["stepFunctions"]["stateMachines"], rest
    elif command == "invoke" and option("--function"):
        assert option("--function") in SERVERLESS["functions"], rest
    if option("--path"):
        assert (REPO / option("--path")).is_file(), rest
