"""Browser captures through the service (real uvicorn, real Chromium both to capture and to
look at the result): the API's ``"mode": "browser"``, the preserve page's "with a browser"
choice, and replay of the capture from its archived resources with the live site stopped."""

from __future__ import annotations

import time

import httpx
from browsersite import ARTICLE, RESOURCES, TITLE, Listener, png_size, serve_site
from playwright.sync_api import Page, expect
from test_browser import APPS, browser, page, server  # noqa: F401 - fixtures

from api.tokens import create_token
from archive.config import Settings
from conftest import WebServer


def _wait_for_job(base: str, href: str) -> dict:
    deadline = time.monotonic() + 180
    while True:
        job = httpx.get(base + href, timeout=30).json()
        if job["state"] in ("done", "failed"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def _loaded(tab: Page, selector: str) -> bool:
    return tab.eval_on_selector(selector, "img => img.complete && img.naturalWidth > 0")


def test_browser_capture_by_api_and_preserve_page_replays_from_the_archive(
    home: Settings,
    server: str,  # noqa: F811
    page: Page,  # noqa: F811
    web: WebServer,
) -> None:
    secret = Listener()
    url = serve_site(web, secret.port)
    token = create_token(APPS[server].state.repository.catalog, "api")
    accepted = httpx.post(
        f"{server}/api/v1/captures",
        json={"urls": [url], "mode": "browser"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert accepted.status_code == 202, accepted.text
    job = _wait_for_job(server, accepted.json()["href"])
    assert job["urls"][0]["state"] == "done", job

    versions = httpx.get(f"{server}/api/v1/urls/versions", params={"url": url}).json()
    [version] = versions["versions"]
    assert version["mode"] == "browser"
    assert version["resources"] >= len(RESOURCES)
    shot = httpx.get(server + version["screenshot"])
    assert shot.headers["content-type"] == "image/png"
    assert png_size(shot.content)[0] == 1280

    # The preserve page's "with a browser" choice: a second browser capture.
    page.goto(f"{server}/preserve")
    page.fill("#preserve textarea[name=urls]", url)
    page.check("#preserve input[name=browser]")
    page.click("#preserve button[type=submit]")
    expect(page.locator("body[data-job-finished='1']")).to_have_count(1, timeout=180_000)
    expect(page.locator("#job td.state")).to_have_text(["searchable"])
    versions = httpx.get(f"{server}/api/v1/urls/versions", params={"url": url}).json()
    assert [v["mode"] for v in versions["versions"]] == ["browser", "browser"]

    # The live site is gone: whatever shows now comes from the archive.
    web.close()
    secret.close()

    page.goto(f"{server}/?q=Quokkaberry")
    page.locator(".hit h3 a").first.click()
    expect(page.locator("h1")).to_have_text(TITLE)
    expect(page.locator(".facts")).to_contain_text("rendered by the browser")
    screenshot = page.locator("figure.screenshot img")
    expect(screenshot).to_have_count(1)
    screenshot.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => { const i = document.querySelector('figure.screenshot img');"
        " return i.complete && i.naturalWidth === 1280; }"
    )

    # The archived copy: the rendered article, its images, background, frame.
    replayed: list[str] = []
    page.on("response", lambda r: replayed.append(f"{r.status} {r.url}"))
    page.click("text=View the archived copy")
    frame = page.frame_locator("iframe.capture")
    expect(frame.locator("#article h1")).to_have_text(TITLE)
    expect(frame.locator("#article p")).to_have_text(ARTICLE)
    archived = page.locator("iframe.capture").get_attribute("src")
    assert archived and not archived.split("/")[2].endswith("id_")

    # The replay URL itself, scrolled so every lazy image is in place.
    page.goto(server + archived)
    expect(page.locator("#article h1")).to_have_text(TITLE)
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_load_state("networkidle")
    assert _loaded(page, "img[alt=first]") and _loaded(page, "img[alt=second]")
    framed = page.frame_locator("iframe").locator("img")
    expect(framed).to_have_js_property("naturalWidth", 40)
    expect(page.frame_locator("iframe").locator("p")).to_have_text("Framed caption")
    for path in ("/hero.png", "/style.css", "/font.ttf", "/lazy-1.png", "/framed.png"):
        assert any(
            line.startswith(("200 ", "304 ")) and line.endswith(path) for line in replayed
        ), (path, replayed)
    # Nothing was asked of the live site's address outside the archive's paths.
    origin = url.rstrip("/")
    assert not [line for line in replayed if line.split(" ", 1)[1].startswith(origin)]
