"""A scheme's step graph: Mermaid text from a Scheme, and SVG drawn by the bundled Mermaid.

Mermaid is the one diagram library: the admin console draws the same text in
the browser, and ``render_svg`` draws it in headless Chromium (Debian's
``chromium``, driven by Playwright) for the command line. No layout code here.

Edges by outcome: success solid green, failure dashed amber, error thick red.
A conditional transition draws one edge per branch, labelled with its condition.
The loader refuses unreachable steps, but schemes built in code are not loaded
from YAML, so the graph flags them itself.
"""

from __future__ import annotations

import shutil
from collections import deque
from pathlib import Path

from app.engine.outcome import Outcome
from app.engine.scheme import FAILURE, SUCCESS, Scheme

# Installed from npm by the Makefile (admin-assets/package-lock.json); served to the console by app.web.admin.
MERMAID_JS = (
    Path(__file__).resolve().parent.parent / "admin-assets" / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
)
CHROMIUM = "/usr/bin/chromium"

EDGE_STYLES = {
    Outcome.SUCCESS: ("-->", "stroke:#1a7f37,stroke-width:2px"),
    Outcome.FAILURE: ("-.->", "stroke:#bf8700,stroke-width:2px"),
    Outcome.ERROR: ("==>", "stroke:#cf222e,stroke-width:3px"),
}


class GraphError(RuntimeError):
    """The SVG could not be drawn (no Chromium, no Playwright, no bundled Mermaid)."""


def reachable_steps(scheme: Scheme) -> set[str]:
    """Steps reachable from the initial step by any outcome."""
    seen, queue = set(), deque([scheme.initial_step])
    while queue:
        name = queue.popleft()
        if name in seen or name not in scheme.steps:
            continue
        seen.add(name)
        transitions = scheme.orchestration.get(name)
        if transitions is not None:
            queue.extend(transitions.all_targets())
    return seen


def unreachable_steps(scheme: Scheme) -> list[str]:
    reachable = reachable_steps(scheme)
    return [name for name in scheme.steps if name not in reachable]


def _text(value: str) -> str:
    """Mermaid-safe label text: entity codes instead of characters Mermaid would parse."""
    return value.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def mermaid(scheme: Scheme) -> str:
    """The scheme as a Mermaid flowchart: one node per step (name and plugin), one edge per outcome."""
    ids = {name: f"step{i}" for i, name in enumerate(scheme.steps)}
    ids.update({SUCCESS: "success", FAILURE: "failure"})
    unreachable = set(unreachable_steps(scheme))
    lines = ["flowchart TD", '  start(("start"))', '  success(["success"])', '  failure(["failure"])']
    for name, step in scheme.steps.items():
        flag = "<br/>⚠ unreachable" if name in unreachable else ""
        lines.append(f'  {ids[name]}["{_text(name)}<br/>{_text(step.plugin_name)}{flag}"]')
    edges = [f"  start --> {ids[scheme.initial_step]}"]
    styles = ["  linkStyle 0 stroke:#57606a,stroke-width:1px"]
    for name in scheme.steps:
        transitions = scheme.orchestration.get(name)
        if transitions is None:
            continue
        for outcome, (arrow, style) in EDGE_STYLES.items():
            branches = transitions.branches(outcome)
            for branch in branches:
                label = outcome.value if len(branches) == 1 else f'"{_text(f"{outcome.value}: {branch.label()}")}"'
                styles.append(f"  linkStyle {len(edges)} {style}")
                edges.append(f"  {ids[name]} {arrow}|{label}| {ids[branch.goto]}")
    lines += edges + styles
    lines.append("  classDef terminal fill:#f6f8fa,stroke:#57606a")
    lines.append("  classDef ok fill:#dafbe1,stroke:#1a7f37")
    lines.append("  classDef unreachable fill:#fff8c5,stroke:#cf222e,stroke-dasharray:4 3")
    lines.append("  class failure terminal")
    lines.append("  class success ok")
    if unreachable:
        lines.append(f"  class {','.join(ids[n] for n in scheme.steps if n in unreachable)} unreachable")
    return "\n".join(lines) + "\n"


def render_svg(text: str, chromium: str = CHROMIUM) -> str:
    """Draw Mermaid text as SVG with the bundled Mermaid in headless Chromium."""
    if not MERMAID_JS.is_file():
        raise GraphError(f"the bundled Mermaid is missing at {MERMAID_JS}; run 'make' to install it from npm")
    if not Path(chromium).is_file() and shutil.which(chromium) is None:
        raise GraphError(f"no Chromium at {chromium}; install Debian's 'chromium' package, or use --format mermaid")
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise GraphError("the 'playwright' Python package is missing; pip install playwright") from exc
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True)
            try:
                page = browser.new_page()
                page.set_content("<!doctype html><html><body></body></html>")
                page.add_script_tag(path=str(MERMAID_JS))
                return page.evaluate(_RENDER_JS, text)
            finally:
                browser.close()
    except PlaywrightError as exc:
        raise GraphError(f"Chromium could not draw the graph: {exc}") from exc


_RENDER_JS = """async (text) => {
  mermaid.initialize({startOnLoad: false, securityLevel: "strict", theme: "default",
                      flowchart: {htmlLabels: false}});
  const {svg} = await mermaid.render("scheme-graph", text);
  // Mermaid returns HTML serialisation; a standalone .svg file must be well-formed XML.
  const holder = document.createElement("div");
  holder.innerHTML = svg;
  return new XMLSerializer().serializeToString(holder.querySelector("svg"));
}"""
