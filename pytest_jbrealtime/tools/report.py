"""The self-contained HTML report: the live viewer with the run's recording inside.

One file that opens from disk (``file://``) with no server and no network: the
viewer's ES modules (in the order ``viewer/modules.json`` gives, their relative
``import`` lines removed) in one inline ``<script type="module">``, its stylesheet
inline, and the recording's events as gzip+base64 JSON in
``<script type="application/json" id="jb-live-recording">``, which ``main.js``
decompresses with ``DecompressionStream``. The page carries its own
Content-Security-Policy: only its own inline script and style (by hash) run, and it
can load nothing from anywhere.

Screenshots are embedded as ``data:`` URLs up to a size budget; beyond it they are
copied into a folder beside the report and linked, and the page says so.

Built in the pytest process from the recording, once the server process has
closed it (see docs/recording.md for why).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import html
import json
import math
import mimetypes
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from pytest_jbrealtime.shared.recording import Recording, RecordingError, read_recording

MIB = 1024 * 1024
DEFAULT_BUDGET_MIB = 20.0
RECORDING_ELEMENT_ID = "jb-live-recording"
GZIP_LEVEL = 6  # level 9: 12% smaller, three times slower at 20,000 tests

# `import { a } from './x.js';` (possibly over several lines) and `import './x.js';`
_RELATIVE_IMPORT = re.compile(
    r"""^[ \t]*import\s+(?:[\w$*{}\s,]+?\s+from\s+)?['"]\./[\w./-]+\.js['"][ \t]*;?[ \t]*$""",
    re.MULTILINE,
)
_LEFTOVER_IMPORT = re.compile(r"""^[ \t]*(?:import\s*[\w${*'"]|export\s[^;\n]*\sfrom\s)""",
                              re.MULTILINE)
_STYLESHEET_LINK = re.compile(r"""<link\b[^>]*\brel=["']?stylesheet["']?[^>]*>""")
_MAIN_SCRIPT = re.compile(r"""<script\b[^>]*\bsrc=["'][^"']*main\.js["'][^>]*>\s*</script>""")
_CHARSET_META = re.compile(r"""<meta\s+charset=[^>]*>""", re.IGNORECASE)
_TITLE = re.compile(r"<title>.*?</title>", re.DOTALL)

REPORT_CSS = """
.report-note { margin: 0; padding: 8px 16px; background: #fff7d6; color: #5c4400;
  border-bottom: 1px solid #e8d48a; font: 13px/1.4 system-ui, sans-serif; }
"""


class ReportError(Exception):
    """The report cannot be built (the viewer's files are missing or not inlinable)."""


@dataclass
class ReportSummary:
    path: Path
    size: int
    events: int
    tests: int
    counts: dict[str, int] = field(default_factory=dict)
    exit_status: int | None = None
    duration: float | None = None
    screenshots_embedded: int = 0
    screenshots_linked: int = 0
    screenshots_missing: int = 0
    files_dir: Path | None = None
    notes: list[str] = field(default_factory=list)


def viewer_directory() -> Path:
    from pytest_jbrealtime.server.app import viewer_directory as served_viewer

    return served_viewer()


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def inline_viewer_script(viewer_dir: Path) -> str:
    """The viewer's modules as one module script body, in dependency order."""
    try:
        order = json.loads((viewer_dir / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportError(f"cannot read the viewer's module list {viewer_dir}/modules.json: "
                          f"{exc}") from None
    parts = []
    for name in order:
        if not isinstance(name, str) or "/" in name or not name.endswith(".js"):
            raise ReportError(f"viewer/modules.json: {name!r} is not a module file name")
        try:
            source = (viewer_dir / name).read_text(encoding="utf-8")
        except OSError as exc:
            raise ReportError(f"cannot read viewer module {name}: {exc}") from None
        body = _RELATIVE_IMPORT.sub("", source)
        leftover = _LEFTOVER_IMPORT.search(body)
        if leftover:
            raise ReportError(f"viewer module {name} has an import the report cannot inline: "
                              f"{leftover.group(0).strip()!r}")
        parts.append(f"// ---- {name}\n{body}")
    # "</script" inside the code would end the element; "<\/" means the same in JS.
    return "\n".join(parts).replace("</script", "<\\/script")


def _screenshot_data_url(path: Path) -> str:
    media_type = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{media_type};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _place_screenshots(
    recording: Recording, output: Path, budget_bytes: int, summary: ReportSummary
) -> list[str]:
    """The events' JSON texts, with screenshot URLs pointing into the report."""
    encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)
    texts = list(recording.texts)
    files_dir = output.with_name(f"{output.stem}_files")
    used = 0
    for index, event in enumerate(recording.events):
        if event["type"] != "screenshot_captured":
            continue
        source = recording.screenshot_file(event)
        url: str | None
        if source is None:
            summary.screenshots_missing += 1
            url = None
        else:
            encoded_size = 4 * math.ceil(source.stat().st_size / 3)
            if used + encoded_size <= budget_bytes:
                url = _screenshot_data_url(source)
                used += encoded_size
                summary.screenshots_embedded += 1
            else:
                files_dir.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, files_dir / source.name)
                url = f"{quote(files_dir.name)}/{quote(source.name)}"
                summary.screenshots_linked += 1
                summary.files_dir = files_dir
        texts[index] = encoder.encode({**event, "screenshot_url": url})
    return texts


def _notes(recording: Recording, summary: ReportSummary, budget_mib: float) -> list[str]:
    notes = []
    if summary.screenshots_linked:
        assert summary.files_dir is not None
        notes.append(
            f"{summary.screenshots_linked} screenshot(s) are over the {budget_mib:g} MiB "
            f"budget of this report and are not embedded: they are files in "
            f"{summary.files_dir.name}/ beside it (keep that folder with this file)."
        )
    if summary.screenshots_missing:
        notes.append(f"{summary.screenshots_missing} screenshot(s) were not found beside the "
                     "recording and are not shown.")
    if not recording.finished:
        last = recording.events[-1]["seq"] if recording.events else 0
        notes.append(f"The recording ends at event {last} before the run finished "
                     "(the run was interrupted or the live server stopped).")
    if recording.problems:
        notes.append(f"Reading the recording: {recording.problems[0]}"
                     + (f" (and {len(recording.problems) - 1 + recording.more_problems} more)"
                        if len(recording.problems) > 1 or recording.more_problems else ""))
    return notes


def render_report(
    recording: Recording,
    output: Path,
    budget_mib: float = DEFAULT_BUDGET_MIB,
    viewer_dir: Path | None = None,
) -> tuple[str, ReportSummary]:
    """The report's HTML text, and what went into it (screenshot files are copied)."""
    viewer_dir = viewer_dir or viewer_directory()
    try:
        page = (viewer_dir / "index.html").read_text(encoding="utf-8")
        css = (viewer_dir / "style.css").read_text(encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot read the viewer's page: {exc}") from None
    finished = next((e for e in reversed(recording.events)
                     if e["type"] == "session_finished"), None)
    collected = next((e for e in recording.events if e["type"] == "collection_finished"), None)
    summary = ReportSummary(
        path=output, size=0, events=len(recording.events),
        tests=int(collected.get("total", 0)) if collected else 0,
        counts=dict(finished.get("counts", {})) if finished else {},
        exit_status=finished.get("exit_status") if finished else None,
        duration=finished.get("duration") if finished else None,
    )
    texts = _place_screenshots(recording, output, int(budget_mib * MIB), summary)
    summary.notes = _notes(recording, summary, budget_mib)
    events_json = ("[" + ",".join(texts) + "]").encode("utf-8")
    payload = json.dumps({
        "encoding": "gzip+base64",
        "data": base64.b64encode(gzip.compress(events_json, GZIP_LEVEL, mtime=0)).decode(),
    })

    script = inline_viewer_script(viewer_dir)
    style = (css + REPORT_CSS).replace("</style", "<\\/style")
    csp = (
        "default-src 'none'; "
        f"script-src {_csp_hash(script)}; style-src {_csp_hash(style)}; "
        # file: for screenshots linked beside the report (over the budget).
        "img-src data: blob: file:; connect-src 'none'; "
        "base-uri 'none'; form-action 'none'; object-src 'none'"
    )
    start = recording.events[0].get("timestamp", "") if recording.events else ""
    title = f"pytest report {start[:19].replace('T', ' ')}".strip()

    def substitute(pattern: re.Pattern[str], replacement: str, what: str, text: str) -> str:
        new_text, count = pattern.subn(lambda _m: replacement, text, count=1)
        if count != 1:
            raise ReportError(f"viewer/index.html has no {what} to replace")
        return new_text

    page = substitute(_STYLESHEET_LINK, f"<style>{style}</style>", "stylesheet link", page)
    page = substitute(_MAIN_SCRIPT, f'<script type="module">{script}</script>',
                      "main.js script", page)
    page = substitute(
        _CHARSET_META,
        '<meta charset="utf-8">\n  <meta http-equiv="Content-Security-Policy" '
        f'content="{html.escape(csp)}">\n  <meta name="referrer" content="no-referrer">',
        "charset meta", page)
    page = _TITLE.sub(lambda _m: f"<title>{html.escape(title)}</title>", page, count=1)
    note_html = "".join(
        f'\n<p class="report-note" data-testid="report-note">{html.escape(n)}</p>'
        for n in summary.notes
    )
    recording_html = (f'<script type="application/json" id="{RECORDING_ELEMENT_ID}">'
                      f"{payload}</script>\n")
    body_at = page.find("<body")
    body_open_end = page.find(">", body_at) + 1
    close_at = page.rfind("</body>")
    if body_at < 0 or close_at < 0:
        raise ReportError("viewer/index.html has no <body> element")
    page = (page[:body_open_end] + note_html + page[body_open_end:close_at]
            + recording_html + page[close_at:])
    return page, summary


def write_report(
    recording: Recording | Path | str,
    output: Path | str,
    budget_mib: float = DEFAULT_BUDGET_MIB,
    viewer_dir: Path | None = None,
) -> ReportSummary:
    """Write the report of a recording to ``output`` (atomically: no half-written file)."""
    if not isinstance(recording, Recording):
        recording = read_recording(recording)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    page, summary = render_report(recording, output, budget_mib, viewer_dir)
    data = page.encode("utf-8")
    partial = output.with_name(output.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, output)
    summary.size = len(data)
    return summary


def describe(summary: ReportSummary) -> str:
    text = f"report written to {summary.path} ({summary.size / MIB:.1f} MiB, {summary.tests} tests"
    if summary.screenshots_embedded or summary.screenshots_linked:
        text += f", {summary.screenshots_embedded} screenshots embedded"
        if summary.screenshots_linked:
            text += f", {summary.screenshots_linked} in {summary.files_dir}"
    return text + ")"


# -- `python -m pytest_jbrealtime report` ---------------------------------------------


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recording", type=Path, help="a recording (--jb-live-record)")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="the HTML file to write (default: the recording's name + .html)")
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_MIB, metavar="MIB",
                        help="embed screenshots up to MIB mebibytes (default %(default)g)")


def run(args: argparse.Namespace) -> int:
    try:
        recording = read_recording(args.recording)
    except RecordingError as exc:
        print(f"error: {exc}")
        return 2
    if recording.problems or not recording.finished:
        print(recording.describe())
    output = args.output or recording.path.with_name(
        recording.path.name.removesuffix(".gz").removesuffix(".jsonl") + ".html")
    try:
        summary = write_report(recording, output, args.budget)
    except (ReportError, OSError) as exc:
        print(f"error: {exc}")
        return 1
    print(describe(summary))
    return 0
