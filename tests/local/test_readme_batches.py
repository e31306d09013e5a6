"""The README's "Batches" example, run verbatim with the real `openai` client against a fresh
local server (issue 12, point 8)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from local_server_process import ROOT, server_environment, start_server

MARKED = re.compile(r"<!-- batches:start -->(.*?)<!-- batches:end -->", re.DOTALL)
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def test_the_readme_batches_example_runs_verbatim(tmp_path):
    section = MARKED.search((ROOT / "README.md").read_text())
    assert section, "README.md has no batches markers"
    [script] = PYTHON_BLOCK.findall(section.group(1))
    server = start_server(tmp_path / "server.log", admin_key="readme-batches-key")
    try:
        env = server_environment(TASKQ_URL=server.base_url, TASKQ_API_KEY=server.admin_key)
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    finally:
        server.stop()
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}\nserver:\n{server.log()}"
    counts, *lines = done.stdout.strip().splitlines()
    assert counts == "BatchRequestCounts(completed=3, failed=0, total=3)"
    output = sorted((json.loads(x) for x in lines), key=lambda x: x["custom_id"])
    assert [x["custom_id"] for x in output] == ["q0", "q1", "q2"]
    answers = [x["response"]["body"]["choices"][0]["message"]["content"] for x in output]
    assert answers == ["0 + 0? 0", "1 + 1? 2", "2 + 2? 4"]
