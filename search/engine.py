"""Choose the search engine from ``VESTIGE_SEARCH_URL``."""

from __future__ import annotations

import httpx

from archive.config import Settings
from search.backend import SearchBackend, SearchError


def detect_distribution(url: str, timeout: float = 10.0) -> str:
    """'opensearch' or 'elasticsearch', from the cluster's own root answer."""
    try:
        response = httpx.get(url.rstrip("/") + "/", timeout=timeout)
        response.raise_for_status()
        info = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SearchError(f"cannot reach the search engine at {url}: {exc}") from exc
    version = info.get("version") if isinstance(info, dict) else None
    if not isinstance(version, dict) or "number" not in version:
        raise SearchError(f"{url} does not answer like Elasticsearch or OpenSearch")
    return "opensearch" if version.get("distribution") == "opensearch" else "elasticsearch"


def open_backend(settings: Settings) -> SearchBackend:
    """The embedded index under ``$VESTIGE_HOME/index``, or the configured cluster."""
    url = settings.search_url
    if not url:
        from search.embedded import EmbeddedBackend

        return EmbeddedBackend(settings.home / "index")
    if not url.startswith(("http://", "https://")):
        raise SearchError(f"VESTIGE_SEARCH_URL must be an http(s):// URL, not {url!r}")
    from search.cluster import ClusterBackend

    return ClusterBackend.connect(
        url, distribution=detect_distribution(url), alias=settings.search_index
    )
