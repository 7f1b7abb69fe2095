"""The web UI served by the leading master, on a real cluster (Ray actors,
real task processes): its files over real HTTP, and the page in a real
headless Chromium (Debian's, driven by Playwright over the DevTools
protocol) rendering the cluster's agents, frameworks and tasks.

The screenshot of the page goes to tests/runtime/out/webui.png (git-ignored)."""

from __future__ import annotations

import http.client
import json
import struct
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page
from support.browser import chromium
from support.runtime import PATIENCE, Launcher, wait_for

from pyactors import Resources
from pyactors.api.webui import FOLDER, load_assets
from pyactors.core.operations import TaskInfo
from pyactors.runtime.cluster import Cluster

# The page tests wait for several things each, as long as a busy machine needs.
pytestmark = pytest.mark.timeout(600)

SCREENSHOT = Path(__file__).parent / "out" / "webui.png"
# A task name and label that would run script if the page built markup from them.
EVIL_NAME = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"
EVIL_LABEL = "<b onmouseover=alert(1)>bold</b>"

# The web tasks run for as long as the module's tests may take.
WEB_TASKS = [(f"web-{i}", "sleep 3600", "cpus:0.25;mem:32") for i in range(3)]
EVIL_TASK = ("web-evil", "sleep 3600", "cpus:0.1;mem:16")
BATCH_DONE = [(f"batch-{i}", "echo done", "cpus:0.5;mem:64") for i in range(2)]
BATCH_FAILED = ("batch-failed", "exit 3", "cpus:0.5;mem:64")


class NamedLauncher(Launcher):
    """A Launcher whose tasks may have names and labels of their own."""

    def __init__(
        self,
        tasks: list[tuple[str, str, str]],
        names: dict[str, str],
        labels: dict[str, dict[str, str]],
    ) -> None:
        super().__init__(tasks)
        self.names, self.labels = names, labels

    def task_info(self, task_id: str, command: str, resources: str) -> TaskInfo:
        return TaskInfo(
            task_id,
            self.names.get(task_id, task_id),
            Resources.parse(resources),
            command=command,
            labels=self.labels.get(task_id, {}),
        )


@pytest.fixture(scope="module")
def workload(cluster: Cluster) -> dict[str, Any]:
    """Two frameworks: `web` with long-running tasks (one with a hostile
    name), `batch` with tasks that finished or failed."""
    web = cluster.run_framework(
        NamedLauncher,
        [*WEB_TASKS, EVIL_TASK],
        {EVIL_TASK[0]: EVIL_NAME},
        {EVIL_TASK[0]: {"team": EVIL_LABEL}},
        name="web",
        roles=["web"],
    )
    batch = cluster.run_framework(
        Launcher, [*BATCH_DONE, BATCH_FAILED], name="batch", roles=["batch"]
    )
    running = [t for t, _, _ in [*WEB_TASKS, EVIL_TASK]]
    wait_for(
        lambda: all("TASK_RUNNING" in web.call("states", t) for t in running),
        what="the web tasks run",
    )
    wait_for(
        lambda: (
            all("TASK_FINISHED" in batch.call("states", t) for t, _, _ in BATCH_DONE)
            and "TASK_FAILED" in batch.call("states", BATCH_FAILED[0])
        ),
        what="the batch tasks end",
    )
    return {"web": web, "batch": batch, "running": running}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    # A loaded machine (Ray, other tests) may be slow to answer.
    context.set_default_timeout(PATIENCE * 1000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    try:
        yield opened
    finally:
        context.close()
    assert not errors, f"the page reported errors: {errors}"


def raw_get(url: str, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """One GET with the path sent as written (no client-side normalising)."""
    parsed = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parsed.hostname or "", parsed.port, timeout=30)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def get_body(url: str, path: str) -> tuple[http.client.HTTPResponse, bytes]:
    parsed = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parsed.hostname or "", parsed.port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


def open_ui(page: Page, url: str, fragment: str = "") -> None:
    page.goto(f"{url}/{fragment}")
    page.wait_for_selector("body[data-loaded=true]", timeout=PATIENCE * 1000)


def task_rows(page: Page) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = page.eval_on_selector_all(
        "#tasks tbody tr[data-task-id]",
        "rows => rows.map(r => ({id: r.dataset.taskId, state: r.dataset.state,"
        " framework: r.dataset.frameworkId}))",
    )
    return rows


def wait_for_rows(page: Page, check: Any, what: str) -> list[dict[str, str]]:
    return wait_for(lambda: (rows := task_rows(page)) and check(rows) and rows, what=what)


# ------------------------------------------------------------------ over HTTP


def test_serves_the_page_and_its_files(cluster: Cluster) -> None:
    url = cluster.url
    response, body = get_body(url, "/")
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/html; charset=utf-8"
    assert response.getheader("Cache-Control") == "no-cache"
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert "script-src 'self'" in (response.getheader("Content-Security-Policy") or "")
    assert body == (FOLDER / "index.html").read_bytes()
    types = {
        "app.js": "text/javascript; charset=utf-8",
        "style.css": "text/css; charset=utf-8",
        "favicon.svg": "image/svg+xml",
    }
    assert set(load_assets()) == {"index.html", *types}
    for name, content_type in types.items():
        response, body = get_body(url, f"/webui/{name}")
        assert response.status == 200, name
        assert response.getheader("Content-Type") == content_type
        assert body == (FOLDER / name).read_bytes()
        etag = response.getheader("ETag")
        assert etag
        again = raw_get(url, f"/webui/{name}", {"If-None-Match": etag})
        assert again.status == 304
        assert raw_get(url, f"/webui/{name}", {"If-None-Match": '"other"'}).status == 200


@pytest.mark.parametrize(
    "path",
    [
        "/webui/missing.js",
        "/webui/__init__.py",
        "/webui/",
        "/webui/..%2F__init__.py",
        "/webui/..%2F..%2Fhttp_api.py",
        "/webui/%2e%2e%2f%2e%2e%2fmaster.py",
        "/webui/../http_api.py",
        "/webui/../../../../etc/passwd",
        "/webui/app.js/../../../etc/passwd",
        "/index.html",
    ],
)
def test_no_other_path_is_served(cluster: Cluster, path: str) -> None:
    response, body = get_body(cluster.url, path)
    assert response.status == 404, (path, body[:200])
    assert b"root:" not in body and b"import" not in body


def test_share_history_has_every_framework(cluster: Cluster, workload: dict[str, Any]) -> None:
    url = cluster.url
    web, batch = workload["web"], workload["batch"]

    def history() -> Any:
        response, body = get_body(url, "/master/shares")
        assert response.status == 200
        assert response.getheader("Content-Type") == "application/json"
        shown = json.loads(body)
        # Two samples at least since both frameworks came: the chart draws lines.
        present = [
            [value is not None for value in s["shares"]]
            for s in shown["series"]
            if s["framework_id"] in (web.id, batch.id)
        ]
        both = [all(column) for column in zip(*present, strict=True)]
        return shown if len(present) == 2 and sum(both) >= 2 else None

    shown = wait_for(history, what="two share samples")
    assert shown["interval_seconds"] > 0 and shown["window_seconds"] >= shown["interval_seconds"]
    assert shown["times"] == sorted(shown["times"])
    series = {(s["framework_id"], s["role"]): s for s in shown["series"]}
    assert {(web.id, "web"), (batch.id, "batch")} <= set(series)
    web_series = series[web.id, "web"]
    assert web_series["name"] == "web"
    assert len(web_series["shares"]) == len(shown["times"])
    # 0.85 of 4 cpus and 112 of 1024 MB: cpus dominate, at least 0.2125
    # (offers the framework holds add to it).
    assert web_series["shares"][-1] >= 0.85 / 4 - 1e-9


# ------------------------------------------------------------------ in Chromium


def test_page_renders_the_cluster(cluster: Cluster, workload: dict[str, Any], page: Page) -> None:
    url = cluster.url
    open_ui(page, url)
    everything = [t for t, _, _ in [*WEB_TASKS, EVIL_TASK, *BATCH_DONE, BATCH_FAILED]]
    rows = wait_for_rows(
        page, lambda rows: set(everything) <= {r["id"] for r in rows}, "every task listed"
    )
    states = {r["id"]: r["state"] for r in rows}
    assert all(states[t] == "TASK_RUNNING" for t in workload["running"])
    assert states[BATCH_FAILED[0]] == "TASK_FAILED"
    tasks_text = page.inner_text("#tasks")
    for task_id in everything:
        assert task_id in tasks_text
    agents_text = page.inner_text("#agents")
    assert "agent-0" in agents_text and "agent-1" in agents_text
    assert page.locator("#agents tbody tr[data-agent-id]").count() == 2
    # Each agent's cpus bar shows used of total.
    assert "/ 2" in agents_text
    frameworks_text = page.inner_text("#frameworks")
    assert workload["web"].id in frameworks_text and workload["batch"].id in frameworks_text
    totals = page.inner_text("#totals")
    assert "running 4" in totals.replace("\n", " ").lower()
    # The chart has a line (or a first point) per framework.
    wait_for(
        lambda: page.locator("#shares-chart g.series").count() >= 2,
        what="a chart series per framework",
    )
    # Links to each task's logs.
    row = page.locator(f'#tasks tr[data-task-id="{WEB_TASKS[0][0]}"]')
    hrefs = row.locator("td.logs a").evaluate_all("links => links.map(a => a.href)")
    assert hrefs == [
        f"{url}/tasks/{WEB_TASKS[0][0]}/logs/stdout?format=text",
        f"{url}/tasks/{WEB_TASKS[0][0]}/logs/stderr?format=text",
    ]

    # The hostile name and label are shown as text, and nothing of them ran.
    evil = page.locator(f'#tasks tr[data-task-id="{EVIL_TASK[0]}"]')
    assert evil.locator("td.task-name > span").first.inner_text() == EVIL_NAME
    assert f"team={EVIL_LABEL}" in evil.locator("td.task-name").inner_text()
    assert page.title() == "pyactors"
    assert page.locator("#tasks script, #tasks img, #tasks b[onmouseover]").count() == 0
    assert page.evaluate("document.querySelectorAll('script').length") == 1

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    print(f"web UI screenshot: {SCREENSHOT}")
    png = SCREENSHOT.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    assert width == 1440 and height >= 900
    assert len(png) > 30_000, "the screenshot is nearly empty"


def test_filters_tasks_by_state_and_framework(
    cluster: Cluster, workload: dict[str, Any], page: Page
) -> None:
    open_ui(page, cluster.url)
    page.select_option("#state-filter", "TASK_FINISHED")
    rows = wait_for_rows(
        page, lambda rows: all(r["state"] == "TASK_FINISHED" for r in rows), "finished only"
    )
    assert {r["id"] for r in rows} == {t for t, _, _ in BATCH_DONE}
    assert page.evaluate("location.hash") == "#state=TASK_FINISHED"

    page.select_option("#state-filter", "TASK_RUNNING")
    rows = wait_for_rows(
        page, lambda rows: all(r["state"] == "TASK_RUNNING" for r in rows), "running only"
    )
    assert {r["id"] for r in rows} == set(workload["running"])

    # Running and of `batch`: none.
    batch = workload["batch"].id
    page.select_option("#framework-filter", batch)
    wait_for(
        lambda: page.locator("#tasks tbody td.empty").count() == 1, what="no running batch task"
    )
    page.select_option("#state-filter", "")
    rows = wait_for_rows(page, lambda rows: all(r["framework"] == batch for r in rows), "batch's")
    assert {r["id"] for r in rows} == {t for t, _, _ in [*BATCH_DONE, BATCH_FAILED]}

    # The filter lives in the address: a page opened with it shows the same.
    page.goto("about:blank")
    open_ui(page, cluster.url, "#state=TASK_FAILED")
    rows = wait_for_rows(
        page, lambda rows: all(r["state"] == "TASK_FAILED" for r in rows), "failed only"
    )
    assert [r["id"] for r in rows] == [BATCH_FAILED[0]]
    assert page.input_value("#state-filter") == "TASK_FAILED"

    # Pages of 50: a second page of failed tasks is empty, and back is the first.
    open_ui(page, cluster.url, "#state=TASK_FAILED&page=1")
    wait_for(lambda: page.locator("#tasks tbody td.empty").count() == 1, what="an empty page")
    assert page.is_disabled("#older") and not page.is_disabled("#newer")
    page.click("#newer")
    rows = wait_for_rows(page, lambda rows: len(rows) == 1, "the first page")
    assert [r["id"] for r in rows] == [BATCH_FAILED[0]]
    assert page.evaluate("location.hash") == "#state=TASK_FAILED"


def test_updates_live(cluster: Cluster, page: Page) -> None:
    """The open page follows the cluster: a framework and task that start
    after it loaded appear, and a task killed through the API shows killed."""
    url = cluster.url
    open_ui(page, url)
    late = cluster.run_framework(
        Launcher, [("late-0", "sleep 3600", "cpus:0.25;mem:16")], name="late", roles=["late"]
    )
    try:
        wait_for(
            lambda: page.locator(f'#frameworks tr[data-framework-id="{late.id}"]').count() == 1,
            what="the new framework shown",
        )
        wait_for_rows(
            page,
            lambda rows: any(r["id"] == "late-0" and r["state"] == "TASK_RUNNING" for r in rows),
            "the new task shown running",
        )
        body = json.dumps({"task_id": "late-0", "framework_id": late.id}).encode()
        parsed = urllib.parse.urlsplit(url)
        connection = http.client.HTTPConnection(parsed.hostname or "", parsed.port, timeout=30)
        connection.request("POST", "/master/kill", body, {"Content-Type": "application/json"})
        assert connection.getresponse().status == 200
        connection.close()
        wait_for_rows(
            page,
            lambda rows: any(r["id"] == "late-0" and r["state"] == "TASK_KILLED" for r in rows),
            "the killed task shown killed",
        )
    finally:
        cluster.teardown(late)
