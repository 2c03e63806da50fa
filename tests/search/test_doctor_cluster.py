"""``vestige doctor`` on a configured cluster: reachable, and which Chinese analyzer it has."""

from __future__ import annotations

import pytest
from searchtools import cluster_url  # noqa: F401 - fixture

from api.doctor import run_checks
from archive.config import Settings, get_settings


def test_doctor_reaches_the_cluster_and_names_its_analyzer(
    home: Settings,
    cluster_url: str,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VESTIGE_SEARCH_URL", cluster_url)
    get_settings.cache_clear()
    (search,) = (check for check in run_checks(get_settings()) if check.name == "search")
    assert search.ok and search.required
    assert cluster_url in search.detail and "Chinese analyzer" in search.detail
