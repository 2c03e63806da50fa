"""The docker-compose deployment: what `docker compose up` starts, read from the files
(the machines that run the tests have no container engine; `docker compose config`
validates the same file where the Docker client is installed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_volumes_and_profiles() -> None:
    services = compose()["services"]
    expected = {"postgres", "elasticsearch", "opensearch", "vestige", "replay", "worker", "migrate"}
    assert expected <= set(services)
    assert services["elasticsearch"]["profiles"] == ["elasticsearch"]
    assert services["opensearch"]["profiles"] == ["opensearch"]
    # Both engines answer as `search`, which Vestige is pointed at.
    for engine in ("elasticsearch", "opensearch"):
        assert services[engine]["networks"]["default"]["aliases"] == ["search"]
    vestige = services["vestige"]
    assert vestige["environment"]["VESTIGE_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert vestige["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    # The service, the replay server and the worker share the WARC volume.
    for name in ("vestige", "replay", "worker"):
        assert "vestige-warcs:/data/warcs" in services[name]["volumes"]
    assert {"vestige-warcs", "vestige-db", "vestige-index"} <= set(compose()["volumes"])
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        for profile in ("elasticsearch", "opensearch"):
            checked = subprocess.run(
                ["docker", "compose", "--profile", profile, "config", "-q"],
                cwd=ROOT, capture_output=True, text=True,
            )  # fmt: skip
            assert checked.returncode == 0, checked.stderr


def test_images() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    user = re.search(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert user is not None and user.group(1) not in ("root", "0")
    assert "HEALTHCHECK" in dockerfile and "/api/v1/health" in dockerfile
    for engine in ("elasticsearch", "opensearch"):
        plugins = (ROOT / "docker" / engine / "Dockerfile").read_text()
        assert "analysis-smartcn" in plugins and "analysis-icu" in plugins


def test_every_setting_is_in_the_configuration_table() -> None:
    from archive.config import Settings

    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(VESTIGE_[A-Z_]+)` \|", table, re.MULTILINE))
    assert {f"VESTIGE_{name.upper()}" for name in Settings.model_fields} <= documented
