"""The README's quick walk-through, run verbatim: every ```python block between the walkthrough
markers saved under the name its first line gives (`# worker.py`), then every ```sh block, in
order, in one bash, in a scratch folder that sees the project's .venv, against a fresh local
server."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from local_server_process import ROOT, server_environment, start_server

from taskq_local.processes import free_port

MARKED = re.compile(r"<!-- walkthrough:start -->(.*?)<!-- walkthrough:end -->", re.DOTALL)
CALLBACKS = re.compile(r"<!-- callbacks:start -->(.*?)<!-- callbacks:end -->", re.DOTALL)
ONLINE = re.compile(r"<!-- online:start -->(.*?)<!-- online:end -->", re.DOTALL)
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.DOTALL | re.MULTILINE)
PYTHON_FILE = re.compile(r"^```python\n# (\S+\.py)\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def json_values(text: str) -> list:
    """The JSON values printed one after another (curl adds no newline after a body)."""
    decoder, values, position = json.JSONDecoder(), [], 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        value, position = decoder.raw_decode(text, position)
        values.append(value)
    return values


def walkthrough_script(marked: re.Pattern = MARKED, at_least: int = 5) -> str:
    section = marked.search((ROOT / "README.md").read_text())
    assert section, f"README.md has no {marked.pattern[:25]} markers"
    blocks = SH_BLOCK.findall(section.group(1))
    assert len(blocks) >= at_least, "the walk-through should register, put, take, complete and get"
    return "\n".join(blocks)


def run_against_a_server(script: str, folder: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`script` in bash (-euo pipefail), in `folder` (which sees the project's .venv), against a
    local server of its own; it must succeed."""
    (folder / ".venv").symlink_to(ROOT / ".venv")
    server = start_server(folder / "server.log", admin_key="readme-admin-key")
    try:
        environment = server_environment(BASE=server.base_url, KEY=server.admin_key, **env)
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            env=environment,
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.stop()
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}\nserver:\n{server.log()}"
    return done


@pytest.mark.slow
def test_readme_walkthrough_runs_verbatim(tmp_path):
    """Register, the two keys, a worker from the client library (`taskq worker`), and a
    producer that puts and waits with it."""
    script = walkthrough_script(at_least=5)
    files = PYTHON_FILE.findall(MARKED.search((ROOT / "README.md").read_text()).group(1))
    assert {name for name, _ in files} == {"worker.py", "producer.py"}
    for name, code in files:
        (tmp_path / name).write_text(f"# {name}\n{code}")
    done = run_against_a_server(script, tmp_path)
    registered, end = json.JSONDecoder().raw_decode(done.stdout)  # curl adds no newline
    assert registered == "demo"
    assert done.stdout[end:].strip() == "succeeded Hello!", done.stdout
    assert "draining" in done.stderr, "the worker logged its SIGTERM drain"


@pytest.mark.slow
def test_readme_callback_round_trip_runs_verbatim(tmp_path):
    """The walk-through's first steps (the variables, register), then the Callbacks section,
    in one bash, in a scratch folder that sees the project's .venv."""
    setup = SH_BLOCK.findall(MARKED.search((ROOT / "README.md").read_text()).group(1))[:2]
    script = "\n".join([*setup, walkthrough_script(CALLBACKS, at_least=3)])
    done = run_against_a_server(script, tmp_path, RECEIVER_PORT=str(free_port()))
    registered, put, completed, callback, stats = json_values(done.stdout)
    assert registered == "demo" and completed == put["data"]
    assert callback == {
        "path": "/done",
        "task_id": put["data"],
        "status": "succeeded",
        "body": {"status_code": 200, "body": {"text": "Hello!"}},
    }
    assert (stats["succeeded"], stats["total_put_cnt"], stats["total_completed_cnt"]) == (1, 1, 1)


@pytest.mark.slow
def test_readme_online_tasks_run_verbatim(tmp_path):
    """The walk-through's first steps (the variables, register), then the Online tasks section:
    a blocking put answered by a background worker, a streamed put with curl, and with the CLI."""
    setup = SH_BLOCK.findall(MARKED.search((ROOT / "README.md").read_text()).group(1))[:2]
    script = "\n".join([*setup, walkthrough_script(ONLINE, at_least=4)])
    done = run_against_a_server(script, tmp_path)
    registered, rest = json.JSONDecoder().raw_decode(done.stdout)
    blocking, rest = json.JSONDecoder().raw_decode(done.stdout, rest)
    assert registered == "demo"
    assert blocking == {"choices": [{"message": {"content": "Hello!"}}]}
    streamed, _, printed = done.stdout[rest:].partition("\n\n{")
    assert streamed == "id: 1\nevent: message\ndata: Hel\n\nid: 2\nevent: message\ndata: lo!"
    assert [json.loads(line) for line in ("{" + printed).splitlines()] == [
        {"id": "1", "event": "message", "data": "Hel"},
        {"id": "2", "event": "message", "data": "lo!"},
    ]
    assert re.fullmatch(r"X-Task-Id: TASK-\S+\n", done.stderr), done.stderr
