"""The console in a real browser against a real local server (issue 15): sign in, counts after
puts, a task, clearing a queue, redelivering a dead letter, and task data shown as text."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

from callback_support import Receiver
from local_server_process import ServerProcess, http

from tests.browser.conftest import ADMIN_KEY, playwright_api

expect = playwright_api.expect if playwright_api is not None else None  # else conftest skips every test
ENDPOINT = "/v1/chat/completions"


def api(server: ServerProcess, method: str, path: str, body: Any = None) -> Any:
    status, answer, _ = http(method, f"{server.base_url}{path}", body, ADMIN_KEY)
    assert 200 <= status < 300, (status, answer)
    return answer


def new_queue(server: ServerProcess) -> str:
    name = f"console-{uuid.uuid4().hex[:8]}"
    api(server, "POST", "/v1/queue/register", {"queue": name, "endpoint": ENDPOINT})
    return name


def put(server: ServerProcess, queue: str, data: Any = None, **fields: Any) -> str:
    return api(server, "POST", "/v1/queue/put", {"queue": queue, "endpoint": ENDPOINT, "data": data or {}} | fields)[
        "data"
    ]


def sign_in(page, key: str = ADMIN_KEY) -> None:
    page.goto("/console")
    page.fill("#key", key)
    page.click("#login button[type=submit]")


def shown(page, hash_: str) -> None:
    """Opens a page of the console and waits until it has rendered its data."""
    page.evaluate("h => { location.hash = h; }", hash_)
    expect(page.locator(f"#page[data-page='{hash_.lstrip('#').split('/')[0]}'][data-ready=true]")).to_be_visible()


def reload_until(page, hash_: str, condition, seconds: float = 20) -> None:
    """Counters follow the stream (a fraction of a second locally): reload until they do."""
    deadline = time.monotonic() + seconds
    while True:
        page.evaluate("() => { location.hash = '#reloading'; }")
        shown(page, hash_)
        if condition() or time.monotonic() > deadline:
            return
        time.sleep(0.2)


def row(page, text: str):
    return page.locator("#page tr", has_text=text)


def snap(page, screenshots: Path | None, name: str) -> None:
    if screenshots is not None:
        page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)


# --- sign in --------------------------------------------------------------------------------------


def test_sign_in_keeps_the_key_for_the_tab_only(page, server: ServerProcess, screenshots) -> None:
    page.goto("/console")
    expect(page.locator("#login")).to_be_visible()
    snap(page, screenshots, "sign-in")

    sign_in(page)

    expect(page.locator("#page[data-page=queues][data-ready=true]")).to_be_visible()
    assert page.evaluate("() => sessionStorage.getItem('taskq-admin-key')") == ADMIN_KEY
    assert page.context.cookies() == [] and ADMIN_KEY not in page.url
    # another tab of another session starts signed out
    other = page.context.browser.new_context(base_url=server.base_url).new_page()
    other.goto("/console")
    expect(other.locator("#login")).to_be_visible()
    other.context.close()
    assert page.errors == []


def test_a_wrong_or_non_admin_key_is_refused_and_asked_again(page, server: ServerProcess) -> None:
    sign_in(page, "not-a-key")
    expect(page.locator("#login-error")).to_contain_text("Not signed in")
    assert page.evaluate("() => sessionStorage.getItem('taskq-admin-key')") is None


# --- queues, a queue, a task ----------------------------------------------------------------------


def test_a_queue_shows_the_right_counts_after_puts_and_opens_a_task(page, server: ServerProcess, screenshots) -> None:
    queue = new_queue(server)
    task_ids = [put(server, queue, {"prompt": f"hello {i}"}) for i in range(3)]
    [taken] = api(server, "POST", "/v1/queue/take", {"queues": [f"{queue}:0"], "size": 1})[f"{queue}:0"]
    sign_in(page)

    # the queues page: 2 waiting, 1 running, 3 put this minute
    line = row(page, f"{queue}:0")
    reload_until(page, "#queues", lambda: line.count() == 1 and line.locator("td").nth(2).inner_text() == "1")
    cells = line.locator("td")
    assert [cells.nth(i).inner_text() for i in range(1, 7)] == ["2", "1", "0", "0", "0", "0"]
    expect(line.locator("svg.chart polyline")).to_have_count(2)
    snap(page, screenshots, "queues")

    # the queue page: its waiting tasks oldest first, the running one with its lease end
    line.locator("a", has_text=f"{queue}:0").click()
    expect(page.locator("#page[data-page=queue][data-ready=true]")).to_be_visible()
    expect(page.locator("#page h2")).to_have_text(f"Queue {queue}:0")
    waiting = [t for t in task_ids if t != taken["task_id"]]
    for task_id in waiting:
        expect(row(page, task_id)).to_have_count(1)
    lease_end = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(taken["lease_expire_time"] / 1000))
    expect(page.locator("#running[data-ready=true]")).to_contain_text("Running (showing 1 of 1)")
    expect(row(page, taken["task_id"])).to_contain_text(lease_end)
    snap(page, screenshots, "queue")

    # a task: its status and data
    row(page, waiting[0]).locator("a").click()
    expect(page.locator("#page[data-page=task][data-ready=true]")).to_be_visible()
    expect(page.locator("dd[data-field=status]")).to_have_text("waiting")
    expect(page.locator("#task-data pre")).to_contain_text('"prompt": "hello')
    assert page.errors == []


def test_task_lookup_by_id_shows_the_result(page, server: ServerProcess, screenshots) -> None:
    queue = new_queue(server)
    task_id = put(server, queue, {"prompt": "2+2?"})
    [task] = api(server, "POST", "/v1/queue/take", {"queues": [f"{queue}:0"], "size": 1})[f"{queue}:0"]
    status, _, _ = http(
        "POST",
        f"{server.base_url}/v1/queue/{task_id}/complete",
        {"status_code": 200, "body": {"answer": 4}},
        ADMIN_KEY,
        {"X-Lease-Id": task["lease_id"]},
    )
    assert status == 200
    sign_in(page)
    expect(page.locator("#nav")).to_be_visible()

    page.fill("#lookup-id", task_id)
    page.click("#lookup button")

    expect(page.locator("#page[data-page=task][data-ready=true]")).to_be_visible()
    expect(page.locator("dd[data-field=status]")).to_have_text("succeeded")
    expect(page.locator("#task-result pre")).to_contain_text('"answer": 4')
    snap(page, screenshots, "task")


def test_task_data_holding_markup_is_shown_as_text(page, server: ServerProcess) -> None:
    queue = new_queue(server)
    hostile = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"><b>bold</b>'
    task_id = put(server, queue, {"note": hostile})
    sign_in(page)
    expect(page.locator("#nav")).to_be_visible()

    shown(page, f"#task/{task_id}")

    expect(page.locator("#task-data pre")).to_contain_text(hostile.replace('"', '\\"'))
    assert page.locator("#page script, #page img, #page b").count() == 0
    assert page.evaluate("() => window.__pwned") is None


# --- clear ----------------------------------------------------------------------------------------


def test_clearing_a_queue_asks_first_then_cancels_its_waiting_tasks(page, server: ServerProcess) -> None:
    queue = new_queue(server)
    task_ids = [put(server, queue) for _ in range(3)]
    sign_in(page)
    expect(page.locator("#nav")).to_be_visible()
    shown(page, f"#queue/{queue}:0")

    # a dismissed confirmation clears nothing
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.click("#clear")
    expect(row(page, task_ids[0])).to_have_count(1)
    assert asked == [f"Cancel every waiting task of {queue}:0?"]
    assert api(server, "GET", f"/v1/queue/{task_ids[0]}")["status"] == "waiting"

    # an accepted one does (the clear call takes about 3 s: docs/design.md "Clearing a queue-level")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#clear")
    expect(page.locator("#notice")).to_contain_text(f"{queue}:0", timeout=30_000)
    assert {api(server, "GET", f"/v1/queue/{t}")["status"] for t in task_ids} == {"cancelled"}
    expect(page.locator("#page[data-page=queue][data-ready=true]")).to_be_visible()
    expect(page.locator("#page h3", has_text="Next waiting")).to_have_text("Next waiting (0)")


# --- dead letters ---------------------------------------------------------------------------------


def test_a_dead_letter_is_redelivered_from_the_console(
    page, server: ServerProcess, receiver: Receiver, screenshots
) -> None:
    # Given a callback that failed both attempts (the receiver answers 500, 500, then 200)
    queue = new_queue(server)
    script = uuid.uuid4().hex[:8]
    receiver.scripts[script] = [500, 500]
    task_id = put(server, queue, {"n": 1}, callback_url=receiver.url(script))
    [task] = api(server, "POST", "/v1/queue/take", {"queues": [f"{queue}:0"], "size": 1})[f"{queue}:0"]
    http(
        "POST",
        f"{server.base_url}/v1/queue/{task_id}/complete",
        {"status_code": 200, "body": {"ok": True}},
        ADMIN_KEY,
        {"X-Lease-Id": task["lease_id"]},
    )
    deadline = time.monotonic() + 30
    while not any(d["task_id"] == task_id for d in api(server, "GET", "/v1/console/dead-letters")):
        assert time.monotonic() < deadline, "no dead letter within 30 s"
        time.sleep(0.1)
    sign_in(page)
    expect(page.locator("#nav")).to_be_visible()

    # When an admin redelivers it from the dead letters page
    shown(page, "#dead-letters")
    letter = row(page, task_id)
    expect(letter).to_contain_text("500")
    snap(page, screenshots, "dead-letters")
    letter.locator("button.redeliver").click()

    # Then the receiver gets it once more, answered 200, and the letter is gone
    expect(page.locator("#notice")).to_contain_text(task_id)
    deadline = time.monotonic() + 30
    while [r["answered"] for r in receiver.for_task(task_id)] != [500, 500, 200]:
        assert time.monotonic() < deadline, receiver.for_task(task_id)
        time.sleep(0.1)
    shown(page, "#dead-letters")
    expect(row(page, task_id)).to_have_count(0)
    time.sleep(1)  # nothing more arrives: a delivered callback is never sent again
    assert len(receiver.for_task(task_id)) == 3
    assert re.fullmatch(r"TASK-\d{13}-[0-9a-f]{16}", task_id)
