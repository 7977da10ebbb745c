"""Who gets in: tokens, the cookie, Host and Origin checks, security headers, pools.

Every test talks to a real ``pytest --jb-live`` server with real HTTP (httpx) and
real WebSocket clients (websockets).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
import websockets

from pytest_jbrealtime.shared.auth import InvalidToken, TokenAuthority
from tests.held_run import SECRET, HeldRun, Viewer, close_code_of, mint


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeldRun]:
    run = HeldRun(tmp_path_factory.mktemp("auth"),
                  "--jb-live-allow-origin", "http://ok.test, https://dash.example:8443")
    yield run
    assert run.release() == 1
    run.kill()


def refused_tokens(run_id: str) -> dict[str, str]:
    now = int(time.time())
    return {
        "bad signature": mint(run_id, secret="another-secret-" + "y" * 40),
        "alg none": mint(run_id, algorithm="none"),
        "expired": mint(run_id, iat=now - 7200, exp=now - 3600),
        "no exp": mint(run_id, drop=("exp",)),
        "no iat": mint(run_id, drop=("iat",)),
        "no aud": mint(run_id, drop=("aud",)),
        "wrong audience": mint(run_id, aud="another-service"),
        "no role": mint(run_id, drop=("role",)),
        "another run": mint("0" * 32),
        "no run": mint(None, drop=("run",)),
        "producer token on a viewer route": mint(run_id, role="producer"),
        "HS512 with the right secret": mint(run_id, algorithm="HS512"),
        "garbage": "not.a.jwt",
    }


def test_tokens_of_this_run_get_in(held: HeldRun) -> None:
    async def check() -> None:
        for token in (held.token, mint(held.run_id)):
            viewer = await Viewer.connect(held.ws_url(token))
            await viewer.roundtrip()
            await viewer.close()

    asyncio.run(check())
    assert httpx.get(held.http_url("/api/run", mint(held.run_id))).status_code == 200


def test_every_bad_token_is_refused_alike(held: HeldRun) -> None:
    tokens = refused_tokens(held.run_id)
    assert jwt.get_unverified_header(tokens["alg none"])["alg"] == "none"

    async def codes() -> dict[str, tuple[int, str]]:
        found = {}
        for case, token in {**tokens, "missing": ""}.items():
            found[case] = (await close_code_of(held.ws_url(token)), "")
        return found

    ws_codes = asyncio.run(codes())
    assert {case: code for case, (code, _) in ws_codes.items()} == {
        case: 4001 for case in ws_codes
    }
    bodies = set()
    for case, token in {**tokens, "missing": ""}.items():
        response = httpx.get(held.http_url("/api/run", token))
        assert response.status_code == 401, case
        bodies.add(response.text)
        page = httpx.get(held.http_url("/", token))  # the page is public code, no data
        assert page.status_code == 200, case
        assert "set-cookie" not in page.headers, case
    assert len(bodies) == 1, "the refusal must not say why"


def test_a_viewer_token_cannot_publish(held: HeldRun) -> None:
    for token in (held.token, mint(held.run_id, role="viewer")):
        code = asyncio.run(close_code_of(held.ws_url(token, path="/ws/producer")))
        assert code == 4001


def test_the_browser_token_is_in_no_cookie_and_travels_as_a_subprotocol(held: HeldRun) -> None:
    """Finding 4: the link's token used to become a cookie, which a browser sends to every
    port of 127.0.0.1 (a stub server on another port received it) and which the next
    run's link overwrote. Now the page is public code, the token stays in the page
    (localStorage, per origin: port included) and goes out only where the page sends it."""
    with httpx.Client() as client:
        page = client.get(held.http_url("/"), follow_redirects=False)
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert "set-cookie" not in page.headers and held.token not in page.text
        assert len(client.cookies) == 0
        for path in ("/api/run", "/screenshots/000001-ab.png"):
            assert client.get(f"http://{held.host}{path}").status_code == 401, path
            authorized = {"Authorization": f"Bearer {held.token}"}
            assert client.get(f"http://{held.host}{path}",
                              headers=authorized).status_code in (200, 404), path

    async def by_subprotocol() -> None:
        ws = await websockets.connect(held.ws_url(""), subprotocols=[
            websockets.Subprotocol("jb-live"),
            websockets.Subprotocol(f"jb-live-token.{held.token}")])
        assert ws.subprotocol == "jb-live"
        viewer = Viewer(ws)
        while (await viewer.next_message())["type"] != "hello":
            pass
        await viewer.roundtrip()
        await viewer.close()
        forged = [websockets.Subprotocol("jb-live"),
                  websockets.Subprotocol(f"jb-live-token.{mint('0' * 32)}")]
        assert await close_code_of(held.ws_url(""), subprotocols=forged) == 4001
        # A cookie is no credential any more (nothing ambient for another site to use).
        cookie = {"Cookie": f"jb_live_token={held.token}"}
        assert await close_code_of(held.ws_url(""), headers=cookie) == 4001

    asyncio.run(by_subprotocol())


@pytest.mark.parametrize("path", ["/", "/api/run", "/api/nothing", "/nothing.js"])
@pytest.mark.parametrize("with_token", [True, False])
def test_every_response_has_csp_and_nosniff(held: HeldRun, path: str, with_token: bool) -> None:
    headers = {"Authorization": f"Bearer {held.token}"} if with_token else {}
    response = httpx.get(f"http://{held.host}{path}", headers=headers, follow_redirects=False)
    csp = response.headers["content-security-policy"]
    directives = dict(
        [*d.strip().split(" ", 1), ""][:2] for d in csp.split(";") if d.strip()
    )
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no other origin
    assert directives["default-src"] == "'self'"
    assert "'unsafe-inline'" not in csp and "*" not in csp and "http" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("host", ["evil.test", "evil.test:{port}", "127.0.0.1.evil.test",
                                  "localhost.evil.test:{port}", ""])
def test_a_foreign_host_is_refused(held: HeldRun, host: str) -> None:
    """DNS rebinding: the attacker's name resolves to us, but its Host header says so."""
    host = host.format(port=held.port)
    url = held.http_url("/api/run")
    response = httpx.get(url, headers={"Host": host})
    assert response.status_code == 403
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" in response.headers
    if host:
        url = held.ws_url().replace(held.host, host if ":" in host else f"{host}:{held.port}")
        code = asyncio.run(close_code_of(url, host="127.0.0.1", port=held.port))
        assert code == -403


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}",
                                  "127.0.0.1", "[::1]:{port}"])
def test_own_hosts_are_served(held: HeldRun, host: str) -> None:
    response = httpx.get(held.http_url("/api/run"), headers={"Host": host.format(port=held.port)})
    assert response.status_code == 200


def test_origin_of_a_websocket_handshake(held: HeldRun) -> None:
    own = f"http://{held.host}"
    cases = {
        own: True,
        f"http://localhost:{held.port}": False,  # another origin than the Host it asks
        "http://ok.test": True,
        "HTTP://OK.TEST": True,
        "http://ok.test:80": True,  # the default port is no port
        "https://dash.example:8443": True,
        "http://ok.test.evil.com": False,
        "http://evil.com/ok.test": False,
        "http://ok.test:8080": False,
        "https://ok.test": False,
        "http://dash.example:8443": False,
        "null": False,
        "http://evil.test": False,
    }

    async def check() -> dict[str, bool]:
        found = {}
        for origin in cases:
            code = await close_code_of_after_hello(held.ws_url(), {"Origin": origin})
            found[origin] = code == 0
            if code != 0:
                assert code == -403, (origin, code)
        return found

    assert asyncio.run(check()) == cases


async def close_code_of_after_hello(url: str, headers: dict[str, str]) -> int:
    """0 if the viewer got in (hello and a pong), else the refusal (-status or code)."""
    try:
        viewer = await Viewer.connect(url, additional_headers=headers)
    except Exception:
        return await close_code_of(url, headers=headers)
    await viewer.roundtrip()
    await viewer.close()
    return 0


def test_pool_of_one_user_closes_the_oldest(held: HeldRun) -> None:
    async def check() -> None:
        user = mint(held.run_id, sub="pool-user")
        viewers = [await Viewer.connect(held.ws_url(user, client_id=f"v{i}")) for i in range(10)]
        for viewer in viewers:
            await viewer.roundtrip()
        other_user = await Viewer.connect(held.ws_url(mint(held.run_id, sub="someone-else")))
        eleventh = await Viewer.connect(held.ws_url(user, client_id="v10"))
        assert await viewers[0].closed_code() == 4009
        for viewer in [*viewers[1:], eleventh, other_user]:
            await viewer.roundtrip()
            await viewer.close()

    asyncio.run(check())


def test_viewer_cap_refuses_with_1013(tmp_path: Path) -> None:
    run = HeldRun(tmp_path, "--jb-live-max-viewers", "3", "--jb-live-max-user-connections", "2")
    try:
        async def check() -> None:
            viewers = [await Viewer.connect(run.ws_url(mint(run.run_id, sub=f"u{i}")))
                       for i in range(3)]
            assert await close_code_of(run.ws_url(mint(run.run_id, sub="late"))) == 1013
            await viewers[0].close()
            # A place is free again once the server has seen that close.
            deadline = time.monotonic() + 10
            while True:
                code = await close_code_of_after_hello(run.ws_url(mint(run.run_id, sub="v")), {})
                if code == 0 or time.monotonic() > deadline:
                    break
            assert code == 0
            for viewer in viewers[1:]:
                await viewer.roundtrip()
                await viewer.close()

        asyncio.run(check())
        assert run.release() == 1
    finally:
        run.kill()


def test_a_short_secret_is_refused_with_a_warning(tmp_path: Path) -> None:
    run = HeldRun(tmp_path, env={"JB_LIVE_SECRET": "too-short"})
    try:
        with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):
            signed_with_it = mint(run.run_id, secret="too-short")
        assert asyncio.run(close_code_of(run.ws_url(signed_with_it))) == 4001
        jwt.decode(run.token, options={"verify_signature": False})
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(run.token, SECRET, algorithms=["HS256"], audience="pytest-jbrealtime")
        assert run.release() == 1
        warnings = [line for line in run.live.lines if "JB_LIVE_SECRET" in line]
        assert len(warnings) == 1 and "WARNING" in warnings[0]
    finally:
        run.kill()


def test_minted_tokens_are_the_bytes_pyjwt_makes_and_pass_its_checks() -> None:
    # The pytest process mints without importing pyjwt (auth.py says why).
    authority = TokenAuthority("s" * 40, run_id="run-1")
    token = authority.mint("viewer", 60, subject="browser-1")
    claims = jwt.decode(token, "s" * 40, algorithms=["HS256"], audience="pytest-jbrealtime")
    assert token == jwt.encode(claims, "s" * 40, algorithm="HS256")
    assert authority.verify(token, "viewer")["sub"] == "browser-1"
    with pytest.raises(InvalidToken):
        TokenAuthority("t" * 40, run_id="run-1").verify(token, "viewer")
