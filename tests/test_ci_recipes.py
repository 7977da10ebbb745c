"""The recipes of docs/ci.md (files in examples/, shown verbatim in the page).

Each is parsed, every option and variable it names must exist in the plugin, and each
runs for real where it can: the CI jobs' pytest commands against a real hub (as
GitHub Actions and GitLab would run them, secrets and all), the nginx site with TLS in
front of a real hub, the systemd unit through ``systemd-analyze verify`` and the hub's
own argument parser.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import websockets
import yaml

from pytest_jbrealtime.__main__ import build_parser
from pytest_jbrealtime.shared import ci
from pytest_jbrealtime.shared.settings import OPTIONS
from tests.hub_support import HubProcess, Shard, free_port, mint
from tests.support import unpack, wait_until

CHECKOUT = Path(__file__).resolve().parents[1]
DOCS = CHECKOUT / "docs" / "ci.md"
EXAMPLES = CHECKOUT / "examples"
GITHUB = EXAMPLES / "github-actions.yml"
GITLAB = EXAMPLES / "gitlab-ci.yml"
UNIT = EXAMPLES / "pytest-jbrealtime-hub.service"
NGINX_SITE = EXAMPLES / "nginx-pytest-jbrealtime.conf"

FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)
JB_OPTION = re.compile(r"--jb-live[a-z-]*")
JB_VARIABLE = re.compile(r"\bJB_LIVE_[A-Z_]+\b")
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
# The variables the plugin and the hub read: the options' and the two secrets.
VARIABLES = {option.env for option in OPTIONS} | {"JB_LIVE_TOKEN", "JB_LIVE_SECRET"}
# The names of the GitHub secrets the workflow reads (not variables of ours).
SECRETS = {"JB_LIVE_HUB_URL", "JB_LIVE_PRODUCER_TOKEN"}
NO_CI = {variable: "" for variable, _ in ci.PROVIDERS}

SUITE = """
def test_ok():
    pass

def test_bad():
    assert 1 == 2
"""


def blocks() -> list[tuple[str, str]]:
    """docs/ci.md's fenced code blocks: (language, text)."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(DOCS.read_text(encoding="utf-8"))]


def command_lines(text: str) -> list[str]:
    """Shell lines with their backslash continuations joined."""
    return [line.strip() for line in text.replace("\\\n", " ").splitlines() if line.strip()]


def option_value(command: str, option: str) -> str:
    words = shlex.split(command)
    return words[words.index(option) + 1]


def make_suite(directory: Path) -> Path:
    directory.mkdir()
    (directory / "test_suite.py").write_text(SUITE)
    (directory / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    return directory


def nonzero(counts: Mapping[str, int]) -> dict[str, int]:
    return {name: count for name, count in counts.items() if count}


def run_in_ci(command: str, cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """``command`` as a CI runner's shell runs it: this environment's pytest first on PATH,
    the outer run's CI markers blanked, nothing unbuffered (a CI log is a pipe)."""
    full = {key: value for key, value in os.environ.items()
            # PYTEST_CURRENT_TEST: a CI shell is no test of ours (plugin.py: nested runs).
            if key not in ("PYTEST_ADDOPTS", "PYTHONUNBUFFERED", "PYTEST_CURRENT_TEST")}
    full.update(NO_CI)
    full["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{full.get('PATH', '')}"
    full.update(env)
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=full, capture_output=True,
                          text=True, timeout=300)


# -- what the page shows ------------------------------------------------------------------


def test_every_example_is_in_the_page_verbatim() -> None:
    shown = {text for _, text in blocks()}
    examples = sorted(EXAMPLES.iterdir())
    assert {p.name for p in examples} >= {GITHUB.name, GITLAB.name, UNIT.name, NGINX_SITE.name}
    for example in examples:
        assert example.read_text(encoding="utf-8") in shown, f"{example.name} differs in ci.md"


@pytest.fixture(scope="module")
def pytest_help(tmp_path_factory: pytest.TempPathFactory) -> str:
    done = subprocess.run([sys.executable, "-m", "pytest", "--help"], capture_output=True,
                          text=True, cwd=tmp_path_factory.mktemp("help"), timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_option_and_variable_named_exists(pytest_help: str) -> None:
    texts = [DOCS.read_text(encoding="utf-8")] + [p.read_text() for p in EXAMPLES.iterdir()]
    known = set(JB_OPTION.findall(pytest_help))
    assert "--jb-live-hub" in known
    for text in texts:
        assert set(JB_OPTION.findall(text)) <= known
        assert set(JB_VARIABLE.findall(text)) <= VARIABLES | SECRETS


def test_every_hub_command_in_the_page_parses() -> None:
    commands = [line for lang, text in blocks() if lang in ("sh", "")
                for line in command_lines(text) if "-m pytest_jbrealtime " in line]
    assert len(commands) >= 3
    for line in commands:
        words = shlex.split(line)
        arguments = words[words.index("pytest_jbrealtime") + 1:]
        if arguments == ["--version"]:
            continue
        parsed = build_parser().parse_args(arguments)  # exits (fails the test) if unknown
        assert parsed.command in ("serve", "token")


def test_the_yaml_blocks_parse() -> None:
    yamls = [text for lang, text in blocks() if lang == "yaml"]
    assert len(yamls) >= 3
    for text in yamls:
        assert isinstance(yaml.safe_load(text), dict)


# -- GitHub Actions -------------------------------------------------------------------------


def github_pytest_step() -> tuple[dict[Any, Any], dict[str, Any]]:
    workflow = yaml.safe_load(GITHUB.read_text())
    (job,) = workflow["jobs"].values()
    (step,) = [s for s in job["steps"] if str(s.get("run", "")).startswith("pytest")]
    return workflow, step


def test_the_github_workflow() -> None:
    workflow, step = github_pytest_step()
    assert workflow.get("on") or workflow.get(True)  # YAML 1.1 reads `on` as True
    (job,) = workflow["jobs"].values()
    env = step["env"]
    assert env["JB_LIVE_HUB"] == "${{ secrets.JB_LIVE_HUB_URL }}"
    assert env["JB_LIVE_TOKEN"] == "${{ secrets.JB_LIVE_PRODUCER_TOKEN }}"
    # The hub from the environment: an empty secret (a fork's pull request) is no hub.
    assert "--jb-live-hub" not in step["run"]
    (upload,) = [s for s in job["steps"]
                 if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    assert "cancelled()" in upload["if"] or "always()" in upload["if"]
    report = Path(option_value(step["run"], "--jb-live-report"))
    assert upload["with"]["path"] == f"{report.parent.as_posix()}/"


def github_command(values: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """The pytest step's command and environment with the workflow's expressions filled."""
    _, step = github_pytest_step()

    def fill(text: str) -> str:
        return EXPRESSION.sub(lambda m: values[m.group(1)], text)

    return fill(step["run"]), {key: fill(str(value)) for key, value in step["env"].items()}


def github_runner_env(tmp_path: Path) -> dict[str, str]:
    return {"CI": "true", "GITHUB_ACTIONS": "true",
            "GITHUB_STEP_SUMMARY": str(tmp_path / "step_summary.md"),
            "GITHUB_SERVER_URL": "https://github.example", "GITHUB_REPOSITORY": "acme/shop",
            "GITHUB_RUN_ID": "4242"}


def test_the_github_step_publishes_to_the_hub(tmp_path: Path, running: list[Any]) -> None:
    hub = HubProcess(tmp_path / "hub")
    running.append(hub)
    suite = make_suite(tmp_path / "suite")
    command, step_env = github_command({
        "secrets.JB_LIVE_HUB_URL": hub.url,
        "secrets.JB_LIVE_PRODUCER_TOKEN": mint("producer", "ci"),
        "github.run_id": "4242", "github.run_attempt": "1",
    })
    done = run_in_ci(command, suite, {**github_runner_env(tmp_path), **step_env})
    assert done.returncode == 1, done.stdout + done.stderr  # the suite's own failure

    page = f"{hub.url}/runs/gh-4242-1/"
    assert (f"::notice title=pytest live viewer::jb-live: watch this run at {page}"
            in done.stdout.splitlines()), done.stdout
    summary = (tmp_path / "step_summary.md").read_text()
    assert f"[{page}]({page})" in summary
    assert "### pytest failed: 1 passed, 1 failed" in summary
    assert (suite / "out" / "report.html").is_file()
    assert (suite / "out" / "run.jsonl.gz").is_file()
    listed = hub.runs()["gh-4242-1"]
    assert (listed["status"], nonzero(listed["counts"])) == ("finished", {"passed": 1, "failed": 1})


def test_the_github_step_without_secrets_still_reports(tmp_path: Path) -> None:
    """A pull request from a fork: no secrets, so no hub; the run and its report go on."""
    suite = make_suite(tmp_path / "suite")
    command, step_env = github_command({
        "secrets.JB_LIVE_HUB_URL": "", "secrets.JB_LIVE_PRODUCER_TOKEN": "",
        "github.run_id": "4242", "github.run_attempt": "1",
    })
    done = run_in_ci(command, suite, {**github_runner_env(tmp_path), **step_env})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "watch this run at http://127.0.0.1:" in done.stdout
    assert (suite / "out" / "report.html").is_file()
    assert "### pytest failed: 1 passed, 1 failed" in (tmp_path / "step_summary.md").read_text()


# -- GitLab CI -----------------------------------------------------------------------------


def gitlab_job() -> dict[str, Any]:
    (job,) = yaml.safe_load(GITLAB.read_text()).values()
    assert isinstance(job, dict)
    return job


def test_the_gitlab_job() -> None:
    job = gitlab_job()
    (command,) = [line for line in job["script"] if line.startswith("pytest")]
    assert "--jb-live-hub" not in command
    artifacts = job["artifacts"]
    assert artifacts["when"] == "always"
    report = Path(option_value(command, "--jb-live-report"))
    assert f"{report.parent.as_posix()}/" in artifacts["paths"]
    assert artifacts["reports"]["junit"] == option_value(command, "--junitxml")


def test_the_gitlab_script_publishes_to_the_hub(tmp_path: Path, running: list[Any]) -> None:
    hub = HubProcess(tmp_path / "hub")
    running.append(hub)
    suite = make_suite(tmp_path / "suite")
    job = gitlab_job()
    (command,) = [line for line in job["script"] if line.startswith("pytest")]
    predefined = {"CI": "true", "GITLAB_CI": "true", "CI_PIPELINE_ID": "77", "CI_JOB_ID": "5"}
    # GitLab expands $VARIABLES in `variables:` itself; the CI/CD settings add the secrets.
    variables = {key: re.sub(r"\$(\w+)", lambda m: predefined[m.group(1)], str(value))
                 for key, value in job["variables"].items()}
    done = run_in_ci(command, suite, {**predefined, **variables, "JB_LIVE_HUB": hub.url,
                                      "JB_LIVE_TOKEN": mint("producer", "ci")})
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"jb-live: watch this run at {hub.url}/runs/gl-77-5/" in done.stdout.splitlines()
    assert (suite / "out" / "report.html").is_file()
    assert (suite / "out" / "junit.xml").is_file()
    assert nonzero(hub.runs()["gl-77-5"]["counts"]) == {"passed": 1, "failed": 1}


# -- the systemd unit ------------------------------------------------------------------------


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """A unit file's sections: (key, value) in order, continuations joined."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for line in text.replace("\\\n", " ").splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None and "=" in line, line
        key, value = line.split("=", 1)
        current.append((key.strip(), value.strip()))
    return sections


def unit_value(sections: dict[str, list[tuple[str, str]]], section: str, key: str) -> str:
    (value,) = [v for k, v in sections[section] if k == key]
    return value


def hub_arguments() -> tuple[list[str], Any]:
    exec_start = unit_value(parse_unit(UNIT.read_text()), "Service", "ExecStart")
    words = shlex.split(exec_start)
    assert words[1:4] == ["-m", "pytest_jbrealtime", "serve"]
    return words, build_parser().parse_args(words[3:])


def test_the_systemd_unit_runs_the_hub_behind_the_proxy() -> None:
    sections = parse_unit(UNIT.read_text())
    assert {"Unit", "Service", "Install"} <= set(sections)
    _, args = hub_arguments()
    assert args.host == "127.0.0.1"  # the proxy is the way in
    assert args.public_url.startswith("https://")
    assert unit_value(sections, "Service", "EnvironmentFile")
    assert "JB_LIVE_SECRET" not in " ".join(v for _, v in sections["Service"])  # not argv
    assert args.data == Path(f"/var/lib/{unit_value(sections, 'Service', 'StateDirectory')}")
    # The proxy's upstream is this hub.
    assert f"server 127.0.0.1:{args.port};" in NGINX_SITE.read_text()
    assert f"server_name {args.public_url.removeprefix('https://')};" in NGINX_SITE.read_text()


def missing(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        problem = f"{tool} is not installed (apt-get install {package}; scripts/test does)"
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    missing("systemd-analyze", "systemd")
    words, _ = hub_arguments()
    env_file = tmp_path / "hub.env"
    env_file.write_text("JB_LIVE_SECRET=" + "s" * 40 + "\n")
    text = UNIT.read_text()
    # verify wants the program and the environment file to exist: this machine's.
    for old, new in ((words[0], sys.executable), ("/etc/pytest-jbrealtime/hub.env", str(env_file))):
        assert old in text
        text = text.replace(old, new)
    unit = tmp_path / UNIT.name
    unit.write_text(text)
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                          text=True, timeout=120)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr


# -- nginx with TLS in front of a real hub ---------------------------------------------------


class Nginx:
    """nginx in the foreground with a configuration of the test's own."""

    def __init__(self, directory: Path, site: str) -> None:
        self.directory = directory
        for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (directory / name).mkdir()
        (directory / "site.conf").write_text(site)
        config = directory / "nginx.conf"
        config.write_text(f"""
user root;
worker_processes 1;
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    access_log off;
    include {directory}/site.conf;
}}
""")
        self.command = ["nginx", "-p", str(directory), "-e", str(directory / "error.log"),
                        "-c", str(config)]
        checked = subprocess.run([*self.command, "-t"], capture_output=True, text=True,
                                 timeout=60)
        assert checked.returncode == 0, checked.stderr
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)

    def kill(self) -> None:
        # The master and its worker: the whole group, or a worker would keep the port.
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=120)
    return cert, key


def site_for_test(tls_port: int, http_port: int, hub_port: int, cert: Path, key: Path,
                  access_log: Path) -> str:
    """The example site with its ports, certificate, log and name made this machine's."""
    site = NGINX_SITE.read_text()
    for old, new in (
        ("listen 443 ssl;", f"listen 127.0.0.1:{tls_port} ssl;"),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("server 127.0.0.1:8770;", f"server 127.0.0.1:{hub_port};"),
        ("/etc/letsencrypt/live/pytest-hub.example.com/fullchain.pem", str(cert)),
        ("/etc/letsencrypt/live/pytest-hub.example.com/privkey.pem", str(key)),
        ("/var/log/nginx/pytest-hub.access.log", str(access_log)),
        ("pytest-hub.example.com", "localhost"),
    ):
        assert old in site, f"the example no longer has {old!r}: update this test"
        site = site.replace(old, new)
    return site


def test_the_nginx_site_serves_a_hub_over_tls(tmp_path: Path, running: list[Any]) -> None:
    missing("nginx", "nginx")
    missing("openssl", "openssl")
    cert, key = self_signed(tmp_path)
    tls_port, http_port = free_port(), free_port()
    public = f"https://localhost:{tls_port}"
    hub = HubProcess(tmp_path / "hub", 0, None, "--public-url", public)
    running.append(hub)
    access_log = tmp_path / "access.log"
    (tmp_path / "nginx").mkdir()
    nginx = Nginx(tmp_path / "nginx", site_for_test(tls_port, http_port, hub.port, cert, key,
                                                    access_log))
    running.append(nginx)
    wait_until(lambda: listening(tls_port) or nginx.process.poll() is not None, timeout=30)
    assert nginx.process.poll() is None, (tmp_path / "nginx" / "error.log").read_text()
    tls = ssl.create_default_context(cafile=str(cert))

    # Plain HTTP goes to HTTPS; the hub's page answers through TLS (Host passed through).
    plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=30)
    plain.request("GET", "/runs/x/", headers={"Host": "localhost"})
    moved = plain.getresponse()
    assert (moved.status, moved.getheader("location")) == (301, "https://localhost/runs/x/")
    plain.close()
    viewer_token = mint("viewer", "alice")
    page = http.client.HTTPSConnection("localhost", tls_port, context=tls, timeout=30)
    page.request("GET", f"/?token={viewer_token}")
    served = page.getresponse()
    assert served.status == 200, served.read()
    assert served.getheader("set-cookie") is None  # the page keeps the token (credential.js)
    served.read()
    page.close()

    # A CI shard publishes through the proxy (wss, the certificate trusted as a CA would
    # be), and a browser-like viewer (with its Origin) watches it live through the proxy.
    suite = make_suite(tmp_path / "suite")
    shard = Shard(suite, public, "--jb-live-wait-viewers", "1", "--jb-live-wait-timeout", "120",
                  run_id="via-nginx", env={"SSL_CERT_FILE": str(cert)})
    running.append(shard)
    wait_until(lambda: "via-nginx" in hub.runs() or shard.process.poll() is not None, 60)
    assert "via-nginx" in hub.runs(), shard.text

    async def watch() -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        async with websockets.connect(
            f"wss://localhost:{tls_port}/runs/via-nginx/ws/alice?token={viewer_token}",
            ssl=tls, origin=websockets.Origin(public), max_size=None,
        ) as ws:
            async for frame in ws:
                events += [m for m in unpack(json.loads(frame)) if "seq" in m]
        return events

    events = asyncio.run(asyncio.wait_for(watch(), 120))
    assert shard.wait() == 1, shard.text
    assert f"jb-live: watch this run at {public}/runs/via-nginx/" in shard.text
    results = {e["test_id"]: e["result"] for e in events if e["type"] == "test_completed"}
    assert results == {"test_suite.py::test_ok": "passed", "test_suite.py::test_bad": "failed"}
    assert events[-1]["type"] == "session_finished"

    # The proxy logged the requests, and no token with them.
    logged = access_log.read_text()
    assert '"GET /runs/via-nginx/ws/alice"' in logged and '"GET /" 200' in logged
    assert viewer_token not in logged and "token=" not in logged
