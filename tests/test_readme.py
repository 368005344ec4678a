"""The README and docs/ tell the truth a newcomer acts on.

The README's first screen holds the two commands and the demo table, and the
table matches the shipped settings and schemes; every relative link of the
README and of docs/*.md reaches a file (and a heading, when it names one);
every command example names a real command with real options; the README stays
short. Nothing here starts a server: the commands are resolved through click,
against the same app the ``stepgate`` command would build.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner
from flask.cli import ScriptInfo

from app.console import main as stepgate
from app.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_LINE_BUDGET = 150
FIRST_SCREEN_LINES = 50
# Pages other engineers own: their links and commands are checked, but not the "no bare flask" rule.
OTHER_OWNERS = {"benchmarks.md", "testing.md", "identity-stores.md", "scim.md"}

FENCE = re.compile(r"^(```|~~~)")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
COMMAND = re.compile(
    r"(?:\.venv/bin/stepgate|\.venv/bin/flask --app app|/opt/stepgate/bin/stepgate)[ \t]*\n?[ \t]*(?P<rest>[^\n`#]*)"
)
BARE_FLASK = re.compile(r"(?<!\.venv/bin/)\bflask --app app\b|`flask (?!run`)[a-z]")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (a `#` in a YAML block is no heading)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = heading.strip().lower()
    text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for line in prose_lines(page.read_text()):
        if m := re.match(r"#{1,6}\s+(.*)", line):
            base = slug(m.group(1))
            name, n = base, 0
            while name in found:
                n += 1
                name = f"{base}-{n}"
            found.add(name)
    return found


def relative_links(page: Path) -> list[str]:
    text = "\n".join(prose_lines(page.read_text()))
    text = re.sub(r"`[^`\n]*`", "", text)  # a link written inside inline code is an example, not a link
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def test_the_readme_fits_its_line_budget():
    lines = README.read_text().splitlines()
    assert len(lines) < README_LINE_BUDGET, f"README.md has {len(lines)} lines; move detail into docs/"


def test_the_first_screen_holds_the_two_commands_and_the_demo_table():
    first = README.read_text().splitlines()[:FIRST_SCREEN_LINES]
    assert any(line.startswith("make run ") for line in first)
    assert any(line.startswith("make test ") for line in first)
    header = next(i for i, line in enumerate(first) if line.startswith("| demo path |"))
    assert "sign in as" in first[header] and "what it shows" in first[header]
    rows = demo_rows()
    assert len(rows) >= 10
    last_row = max(i for i, line in enumerate(first) if line.startswith("| http://127.0.0.1:5000/"))
    assert last_row - header - 1 == len(rows), "the whole demo table is on the first screen"


def demo_rows() -> list[tuple[str, str, str]]:
    """(path, scheme, who signs in) for each row of the README's demo table."""
    rows = []
    for line in README.read_text().splitlines():
        if m := re.match(r"\| http://127\.0\.0\.1:5000(/\S*) \| `(\w+)`[^|]* \| ([^|]+) \|", line):
            rows.append((m.group(1), m.group(2), m.group(3).strip()))
    return rows


def scheme_levels() -> dict[str, int]:
    levels = {}
    for path in (ROOT / "schemes").glob("*.yaml"):
        doc = yaml.safe_load(path.read_text())
        levels[doc["name"]] = int(doc.get("level", 1))
    return levels


def test_each_demo_path_is_protected_by_the_scheme_the_table_names():
    settings = load_settings(ROOT / "config" / "settings.yaml")
    levels = scheme_levels()
    for path, scheme, who in demo_rows():
        resource = settings.application_domains.match("127.0.0.1", path, "GET")
        assert resource is not None and resource.policy.scheme == scheme, f"{path}: the README says {scheme}"
        assert scheme in levels and who


def test_the_readme_says_the_demos_share_a_session_and_how_to_sign_out(app):
    text = README.read_text()
    paragraph = text[text.index("**The demos share one session.**") :].split("\n\n")[0]
    levels = scheme_levels()
    for path, scheme, _ in demo_rows():
        named = f"`{path}`" in paragraph
        assert named == (levels[scheme] > 1), f"{path} (level {levels[scheme]}) and the step-up sentence disagree"
    assert "level 2" in paragraph and "http://127.0.0.1:5000/logout" in paragraph and "**Sign out**" in paragraph
    logout = [rule for rule in app.url_map.iter_rules() if rule.rule == "/logout"]
    assert logout and "POST" in logout[0].methods
    for template in ("demo.html", "admin/layout.html"):
        assert '{% include "_signout.html" %}' in (ROOT / "app" / "templates" / template).read_text()
    assert "url_for('gate.logout')" in (ROOT / "app" / "templates" / "_signout.html").read_text()


def test_the_readme_links_every_docs_page():
    linked = {Path(t.split("#")[0]).name for t in relative_links(README) if t.startswith("docs/")}
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert pages - linked == set()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_reaches_a_file_and_its_heading(page):
    broken = []
    for target in relative_links(page):
        file_part, _, anchor = target.partition("#")
        dest = (page.parent / file_part).resolve() if file_part else page
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(target)
    assert broken == [], f"{page.name}: broken links {broken}"


def command_examples() -> list[tuple[str, list[str]]]:
    """(page, words) for each command example of the README and docs/*.md."""
    found = []
    for page in PAGES:
        text = page.read_text().replace("\\\n", " ")
        for m in COMMAND.finditer(text):
            words = [w.rstrip(")'\",;") for w in m.group("rest").split()]
            if words and re.fullmatch(r"[a-z][a-z-]*", words[0]):
                found.append((page.name, words))
    return found


def test_command_examples_are_typed_through_the_virtualenv():
    bare = []
    for page in PAGES:
        if page.name in OTHER_OWNERS:
            continue
        bare += [f"{page.name}: {m.group(0)}" for m in BARE_FLASK.finditer(page.read_text())]
    assert bare == [], "write .venv/bin/stepgate (or .venv/bin/flask --app app), which works in a new shell"


def test_every_command_example_names_a_real_command_and_real_options(app):
    examples = command_examples()
    assert len(examples) > 30
    info = ScriptInfo(create_app=lambda: app)
    # FlaskGroup.get_command pushes the app context onto this click context: closing it pops it again,
    # else the context outlives the test and the next CLI test in this process runs against this app
    with click.Context(stepgate, obj=info) as ctx:
        runner = CliRunner()
        helps: dict[tuple[str, ...], str] = {}
        wrong = []
        for page, words in examples:
            command = stepgate.get_command(ctx, words[0])
            if command is None:
                wrong.append(f"{page}: no command {words[0]}")
                continue
            path = (words[0],)
            if isinstance(command, click.Group) and not (len(words) > 1 and words[1].startswith("-")):
                if len(words) < 2 or command.get_command(ctx, words[1]) is None:
                    wrong.append(f"{page}: no command {' '.join(words[:2])}")
                    continue
                path = (words[0], words[1])
            if words[0] == "serve":
                continue  # serve hands every argument to gunicorn, and has no --help of its own
            if path not in helps:
                result = runner.invoke(stepgate, [*path, "--help"], obj=info)
                assert result.exit_code == 0, result.output
                helps[path] = result.output
            options = {o for w in words[len(path) :] for o in re.split(r"\\?\|", w) if o.startswith("-")}
            wrong += [f"{page}: {' '.join(path)} has no option {o}" for o in options if o not in helps[path]]
        assert wrong == []


def test_the_nginx_of_docs_forward_auth_is_the_one_the_nginx_test_runs():
    """docs/forward-auth.md shows what tests/test_nginx_forward_auth.py proves, directive for directive."""
    page = (ROOT / "docs" / "forward-auth.md").read_text()
    shown = page[page.index("```nginx") : page.index("```", page.index("```nginx") + 3)]
    tested = (ROOT / "tests" / "test_nginx_forward_auth.py").read_text()
    essentials = [
        "location = /forward-auth",
        "internal;",
        "proxy_pass_request_body off;",
        'proxy_set_header Content-Length "";',
        "$request_uri;",
        "proxy_set_header X-Original-Method $request_method;",
        "location ~ ^/(login|logout|oam/|static/)",
        "return 302 $stepgate_signin;",
        "auth_request /forward-auth;",
        "auth_request_set $stepgate_user $upstream_http_x_stepgate_user;",
        "auth_request_set $stepgate_signin $upstream_http_location;",
        "error_page 401 = @signin;",
        "proxy_set_header X-Stepgate-User $stepgate_user;",
    ]
    assert [e for e in essentials if e not in shown] == []
    assert [e for e in essentials if e not in tested] == []
    assert "$uri" not in shown.replace("$request_uri", "")
