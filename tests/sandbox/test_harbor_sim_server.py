"""The simulator as a real server: `python -m sandbox.harbor` on a free port, over real HTTP."""

from __future__ import annotations

import asyncio
import re
import socket
import sys
from pathlib import Path

import httpx

from sandbox.harbor import TOKEN_PATH

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_the_cli_server_issues_tokens_and_serves_the_api() -> None:
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sandbox.harbor",
        "--port",
        str(port),
        "--client-id",
        "cli-client",
        "--client-secret",
        "cli-secret",
        cwd=REPO,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        line = (await asyncio.wait_for(proc.stderr.readline(), 15)).decode()
        match = re.search(r"at (http://\S+) \(token URL (http://\S+)\)", line)
        assert match, line
        base, token_url = match.groups()
        assert base == f"http://127.0.0.1:{port}"
        assert token_url == base + TOKEN_PATH

        async with httpx.AsyncClient(base_url=base, timeout=5) as http:
            for _ in range(100):  # the log line comes just before uvicorn binds
                try:
                    token = await http.post(
                        token_url,
                        data={
                            "grant_type": "client_credentials",
                            "client_id": "cli-client",
                            "client_secret": "cli-secret",
                            "scope": "service_provider",
                        },
                    )
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
            assert token.status_code == 200
            access = token.json()["access_token"]
            assert len(access.split(".")) == 3
            locations = await http.get("/api/v1/locations/", headers={"Authorization": f"Bearer {access}"})
            assert locations.status_code == 200
            assert len(locations.json()) >= 4
            refused = await http.post(
                token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": "harbor-bot-simulator",
                    "client_secret": "simulator-secret",
                    "scope": "service_provider",
                },
            )
            assert refused.status_code == 401  # --client-id replaces the built-in client
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)
