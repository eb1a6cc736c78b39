"""Dockerfile and compose.yaml, checked as far as a machine without a container runtime can: they parse,
the image is what README says, and every command the trial runs is one README gives, with flags and
settings that exist."""

from __future__ import annotations

import asyncio
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bot.config import Settings
from tests.sandbox.telegram_fixtures import serve_app

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


def test_the_image_is_slim_not_root_and_serves_web() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines() if line.strip()]
    instructions = [line for line in lines if not line.startswith("#")]
    assert instructions[0] == "FROM python:3.11-slim"
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert any('pip install ".[postgres]"' in line for line in instructions)
    assert instructions[-1] == 'CMD ["python", "-m", "bot", "web"]'
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests", "*.sqlite3*", ".env"} <= set(ignored)


def test_the_trial_is_postgres_two_web_processes_and_the_stand_ins() -> None:
    services = compose()["services"]
    commands = {name: service.get("command") for name, service in services.items()}
    assert services["postgres"]["image"].startswith("postgres:")
    assert sorted(name for name, command in commands.items() if command and command[2:4] == ["bot", "web"]) == [
        "web1",
        "web2",
    ]
    modules = {tuple(command[2:3]) for command in commands.values() if command}
    assert {("sandbox.harbor",), ("sandbox.telegram",), ("sandbox.balancer",)} <= modules
    assert services["webhook"]["command"] == ["python", "-m", "bot", "set-webhook"]


def test_every_command_is_one_readme_gives_with_flags_that_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name, service in compose()["services"].items():
        command = service.get("command")
        if not command:
            continue
        assert command[:2] == ["python", "-m"], name
        module_command = " ".join(command[:4] if command[2] == "bot" else command[:3])
        assert f"`{module_command}" in readme, f"{name}: README never gives `{module_command}`"
        flags = [part for part in command if part.startswith("--")]
        shown = subprocess.run(
            [sys.executable, *command[1:3], *(command[3:4] if command[2] == "bot" else []), "--help"],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
        ).stdout  # fmt: skip
        for flag in flags:
            # Its --help lists it, or README documents it (a flag of a stand-in this branch does not have).
            assert flag in shown or flag in readme, f"{name}: {flag} is neither in --help nor in README"


def test_the_bots_settings_are_settings() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    for name in ("web1", "web2", "webhook"):
        environment = compose()["services"][name]["environment"]
        assert set(environment) <= fields, set(environment) - fields
        assert environment["DATABASE_URL"].startswith("postgresql://")
    assert compose()["services"]["web1"]["environment"]["PORT"] != compose()["services"]["web2"]["environment"]["PORT"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_balancer_command_spreads_posts_over_its_upstreams() -> None:
    def upstream(label: str) -> Starlette:
        async def answer(request: Request) -> PlainTextResponse:
            return PlainTextResponse(f"{label} {request.url.path} {(await request.body()).decode()}")

        return Starlette(routes=[Route("/{path:path}", answer, methods=["POST"])])

    async with serve_app(upstream("one")) as one, serve_app(upstream("two")) as two:
        port = _free_port()
        command = f"{sys.executable} -m sandbox.balancer --port {port} --upstream {one} --upstream {two}"
        process = await asyncio.create_subprocess_exec(*shlex.split(command), cwd=ROOT)
        try:
            answers = []
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client, asyncio.timeout(30):
                while not answers:
                    try:
                        answers.append((await client.post("/telegram", content=b"a")).text)
                    except httpx.TransportError:
                        await asyncio.sleep(0.1)
                answers.append((await client.post("/telegram", content=b"b")).text)
        finally:
            process.terminate()
            await process.wait()
    assert answers == ["one /telegram a", "two /telegram b"]
