"""The JSON API over HTTP: health, status, errors, captures in the background, versions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from servicetools import auth, new_token, service, wait_for_job

from archive.config import Settings
from conftest import Route, WebServer


@pytest.fixture
def client(home: Settings) -> Iterator[TestClient]:
    with service(home) as client:
        yield client


@pytest.fixture
def token(client: TestClient) -> str:
    return new_token(client)


def test_health_and_openapi(client: TestClient) -> None:
    health = client.get("/api/v1/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    schema = client.get("/api/v1/openapi.json").json()
    for path in ("/api/v1/captures", "/api/v1/jobs/{job_id}", "/api/v1/urls/versions"):
        assert path in schema["paths"]
    assert client.get("/api/v1/docs").status_code == 200


def test_errors_are_json_with_status(client: TestClient, token: str) -> None:
    missing = client.get("/api/v1/jobs/nope")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"status": 404, "message": "no job 'nope'"}}
    invalid = client.post("/api/v1/captures", json={"urls": []}, headers=auth(token))
    assert invalid.status_code == 422
    assert invalid.json()["error"]["message"].startswith("invalid input: urls")
    bad_scheme = client.post(
        "/api/v1/captures", json={"urls": ["ftp://example.org/"]}, headers=auth(token)
    )
    assert (
        bad_scheme.status_code == 422
        and "only http and https" in bad_scheme.json()["error"]["message"]
    )
    bad_collection = client.post(
        "/api/v1/captures",
        json={"urls": "http://example.org/", "collection": "../etc"},
        headers=auth(token),
    )
    assert bad_collection.status_code == 422
    assert "collection" in bad_collection.json()["error"]["message"]
    bad_url = client.get("/api/v1/urls/versions", params={"url": "http://[::1/"})
    assert bad_url.status_code == 400


def test_capture_job_then_versions_and_replay(client: TestClient, token: str, web: WebServer):
    page = b"<html><title>Report</title><script>document.cookie</script>hello</html>"
    url = web.route(
        "/report.html",
        Route(
            body=page,
            headers=[
                ("Content-Type", "text/html; charset=utf-8"),
                ("Set-Cookie", "tracker=1; Path=/"),
                ("Content-Security-Policy", "default-src *"),
                ("Access-Control-Allow-Origin", "*"),
            ],
        ),
    )
    redirect = web.route("/old", Route(301, headers=[("Location", "/report.html")]))
    accepted = client.post(
        "/api/v1/captures",
        json={"urls": [url, "http://127.0.0.1:1/refused"], "note": "n"},
        headers=auth(token),
    )
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert accepted.headers["location"] == body["href"] == f"/api/v1/jobs/{body['id']}"

    job = wait_for_job(client, body["id"])
    assert job["state"] == "failed"  # one of the two URLs could not be fetched
    assert job["submitted_by"] == "tester"
    first, refused = job["urls"]
    assert first["state"] == "done" and first["status"] == 200 and first["final_url"] == url
    assert first["warc_file"].startswith("default/") and first["offset"] > 0
    assert first["payload_digest"].startswith("sha1:") and first["error"] is None
    assert refused["state"] == "failed" and refused["error"] and refused["warc_file"] is None

    # One URL may also be given alone; this one redirects to the page already stored.
    again = client.post("/api/v1/captures", json={"urls": redirect}, headers=auth(token))
    (moved_item,) = wait_for_job(client, again.json()["id"])["urls"]
    assert moved_item["state"] == "done" and moved_item["final_url"] == url
    assert moved_item["revisit"] is True

    versions = client.get("/api/v1/urls/versions", params={"url": url}).json()
    assert [v["type"] for v in versions["versions"]] == ["response", "revisit"]
    assert versions["versions"][0]["memento"] == first["replay"]

    replay = client.get(first["replay"])
    assert replay.status_code == 200
    assert replay.content == page
    assert replay.headers["content-type"] == "text/html; charset=utf-8"
    csp = replay.headers["content-security-policy"]
    assert csp.startswith("sandbox;") and "allow-same-origin" not in csp
    assert replay.headers["x-content-type-options"] == "nosniff"
    assert "set-cookie" not in replay.headers and "tracker" not in client.cookies
    assert "access-control-allow-origin" not in replay.headers
    assert replay.headers["x-archive-orig-content-security-policy"] == "default-src *"
    assert replay.headers["memento-datetime"].endswith(" GMT")
    assert 'rel="original"' in replay.headers["link"]

    # The revisit replays the first capture's payload.
    revisit = client.get(versions["versions"][1]["memento"])
    assert revisit.status_code == 200 and revisit.content == page

    # The archived redirect stays inside the archive.
    hop = client.get("/api/v1/urls/versions", params={"url": redirect}).json()["versions"][0]
    moved = client.get(hop["memento"], follow_redirects=False)
    assert moved.status_code == 301
    assert moved.headers["location"].startswith("/web/") and moved.headers["location"].endswith(url)

    status = client.get("/api/v1/status").json()
    assert status["archive"]["captures"] == 2  # the report; the redirect and its revisit
    assert status["archive"]["collections"] == ["default"]
    assert status["archive"]["storage_bytes"] > len(page)
    assert status["jobs"]["failed"] == 1 and status["last_runs"]["capture"]


def test_versions_of_unknown_url_is_404(client: TestClient) -> None:
    response = client.get("/api/v1/urls/versions", params={"url": "https://example.org/none"})
    assert response.status_code == 404
    assert "not in the archive" in response.json()["error"]["message"]
    assert client.get("/api/v1/urls/versions").status_code == 422


def test_too_large_request_is_413(home: Settings) -> None:
    with service(home.model_copy(update={"max_upload_size": 1000})) as client:
        response = client.post(
            "/api/v1/captures",
            json={"urls": ["http://example.org/"], "note": "x" * 2000},
            headers=auth(new_token(client)),
        )
    assert response.status_code == 413
    assert "too large" in response.json()["error"]["message"]


def test_full_queue_is_503(home: Settings, web: WebServer) -> None:
    settings = home.model_copy(update={"capture_queue_size": 2})
    url = web.route("/q", Route(body=b"q"))
    with service(settings) as client:
        headers = auth(new_token(client))
        refused = client.post("/api/v1/captures", json={"urls": [url] * 3}, headers=headers)
        assert refused.status_code == 503 and refused.headers["retry-after"]
        assert "queue is full" in refused.json()["error"]["message"]
        accepted = client.post("/api/v1/captures", json={"urls": [url] * 2}, headers=headers)
        assert accepted.status_code == 202
        assert wait_for_job(client, accepted.json()["id"])["state"] == "done"
