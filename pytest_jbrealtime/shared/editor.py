"""``--jb-live-editor``: which editor a traceback's ``path:line`` links open.

Off by default: the viewer is as often watched from another machine (a CI link, a hub,
a report passed around) as from the one that ran the tests, where the run's paths do
not exist, and a custom URL scheme makes the browser ask to start an application. The
user who runs the tests at their own desk turns it on once (ini or environment).
"""

from __future__ import annotations

# ``{path}`` is the absolute path of the file, ``{line}`` the line number.
PRESETS = {
    "vscode": "vscode://file/{path}:{line}",
    "pycharm": "pycharm://open?file={path}&line={line}",
}
OFF = ("", "off", "none")
# Schemes a link may never have: they run code or smuggle content into the page.
FORBIDDEN_SCHEMES = ("javascript", "data", "vbscript", "blob")


def parse_editor(text: str) -> str | None:
    """A preset name or a URL template, as the link template; None when off."""
    value = text.strip()
    if value.lower() in OFF:
        return None
    if value.lower() in PRESETS:
        return PRESETS[value.lower()]
    scheme, colon, _ = value.partition(":")
    if not colon or not scheme.replace("+", "").replace("-", "").replace(".", "").isalnum():
        raise ValueError(f"expected {', '.join(PRESETS)}, off, or a URL template such as "
                         "https://editor.example/open?file={path}&line={line}")
    if scheme.lower() in FORBIDDEN_SCHEMES:
        raise ValueError(f"a {scheme}: link is not allowed")
    if "{path}" not in value:
        raise ValueError("a URL template needs {path} (and usually {line})")
    return value
