"""The web UI on a master with credentials, in a real headless Chromium
(Debian's, driven by Playwright): the page asks to sign in, refuses a wrong
secret, signs in with the right one (a bearer token kept in
sessionStorage, never the secret) or with a token as given, then renders
the agents, frameworks and tasks; no browser password dialog ever opens.

The screenshot of the signed-in page goes to tests/runtime/out/webui-auth.png."""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page
from support.browser import chromium
from support.runtime import PATIENCE, Launcher, small_cluster, wait_for

from pyactors.master.records import MasterConfig
from pyactors.runtime.cluster import Cluster, Framework
from pyactors.security.credentials import Credentials

pytestmark = pytest.mark.timeout(600)

SCREENSHOT = Path(__file__).parent / "out" / "webui-auth.png"
SECRETS = {"ops": "ops-ui-secret-é", "web": "web-ui-secret"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    config = MasterConfig(credentials=Credentials.load(SECRETS))
    yield from small_cluster(tmp_path_factory, config=config)


@pytest.fixture(scope="module")
def framework(cluster: Cluster) -> Framework:
    started = cluster.run_framework(
        Launcher,
        [("signed-task", "sleep 3600", "cpus:0.25;mem:32")],
        name="signed",
        roles=["web"],
        principal="web",
        secret=SECRETS["web"],
    )
    wait_for(lambda: "TASK_RUNNING" in started.call("states", "signed-task"), what="it runs")
    return started


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(PATIENCE * 1000)
    opened = context.new_page()
    errors: list[str] = []
    dialogs: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))

    def dialog(shown: Dialog) -> None:
        dialogs.append(shown.message)
        shown.dismiss()

    opened.on("dialog", dialog)
    # The 401s the page expects (before signing in, the wrong secret) are
    # logged by Chromium as failed loads; anything else is an error.
    opened.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and "401" not in message.text
            else None
        ),
    )
    try:
        yield opened
    finally:
        context.close()
    assert not errors, f"the page reported errors: {errors}"
    assert not dialogs, f"the page opened dialogs: {dialogs}"


def _sign_in_form_shown(page: Page) -> None:
    page.wait_for_selector("#login:not([hidden])", timeout=PATIENCE * 1000)
    assert page.locator("main").is_hidden()


def _loaded(page: Page) -> None:
    page.wait_for_selector("body[data-loaded=true]", timeout=PATIENCE * 1000)


def test_the_page_asks_to_sign_in_then_renders_the_cluster(
    cluster: Cluster, framework: Framework, page: Page
) -> None:
    url = cluster.url
    page.goto(f"{url}/")
    _sign_in_form_shown(page)
    assert "requires credentials" in page.inner_text("#login")

    page.fill("#login-principal", "ops")
    page.fill("#login-secret", "not-the-secret")
    page.click("#login-submit")
    page.wait_for_selector("#login-error:not([hidden])")
    assert page.inner_text("#login-error") == "Wrong principal or secret."
    assert page.evaluate("sessionStorage.getItem('pyactors.token')") is None

    page.fill("#login-secret", SECRETS["ops"])
    page.click("#login-submit")
    _loaded(page)
    assert page.locator("#login").is_hidden()
    assert page.inner_text("#principal") == "ops"
    wait_for(
        lambda: page.locator("#agents tbody tr[data-agent-id]").count() == 2,
        what="both agents drawn",
    )
    agents = page.inner_text("#agents")
    assert "agent-0" in agents and "agent-1" in agents
    wait_for(lambda: framework.id in page.inner_text("#frameworks"), what="the framework drawn")
    wait_for(lambda: "signed-task" in page.inner_text("#tasks"), what="its task listed")
    # The token is kept for this tab; the secret is kept nowhere.
    token = page.evaluate("sessionStorage.getItem('pyactors.token')")
    assert token and SECRETS["ops"] not in token
    stored = page.evaluate("JSON.stringify(Object.entries(sessionStorage))")
    stored += page.evaluate("JSON.stringify(Object.entries(localStorage))")
    assert SECRETS["ops"] not in stored
    assert page.input_value("#login-secret") == ""

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # A reload keeps the sign-in; signing out asks again.
    page.reload()
    _loaded(page)
    assert page.inner_text("#principal") == "ops"
    page.click("#sign-out")
    _sign_in_form_shown(page)
    assert page.evaluate("sessionStorage.getItem('pyactors.token')") is None


def test_a_token_given_signs_in_and_reads_logs(
    cluster: Cluster, framework: Framework, page: Page
) -> None:
    url = cluster.url
    basic = base64.b64encode(f"ops:{SECRETS['ops']}".encode()).decode()
    request = urllib.request.Request(
        f"{url}/auth/token", method="POST", headers={"Authorization": f"Basic {basic}"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        token = json.loads(response.read())["token"]
    page.goto(f"{url}/")
    _sign_in_form_shown(page)
    page.fill("#login-token", token)
    page.click("#login-submit")
    _loaded(page)
    wait_for(lambda: "signed-task" in page.inner_text("#tasks"), what="its task listed")
    # A log link opens the log fetched with the token (a plain navigation
    # could not carry it).
    link = page.locator('#tasks tr[data-task-id="signed-task"] td.logs a').first
    with page.context.expect_page() as opened:
        link.click()
    log = opened.value
    log.wait_for_load_state()
    assert log.url.startswith("blob:")
    log.close()
