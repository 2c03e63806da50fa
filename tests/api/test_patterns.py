"""The patterns the OpenAPI document states are the service's own rules: every string
a pattern matches is accepted by the code that checks it (drawn by hypothesis, as
schemathesis draws schema-valid requests), and what a rule refuses fails the pattern."""

from __future__ import annotations

import re
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.replay import (
    ARCHIVED_URL_PATTERN,
    HTTP_DATE_PATTERN,
    TIMESTAMP_SYNTAX,
    parse_timestamp,
    url_from_path,
)
from archive.follow import INTERVAL_PATTERN, parse_interval
from archive.store import COLLECTION_PATTERN, InvalidCollection, check_collection
from archive.urls import FETCHABLE_URL_PATTERN, URL_PATTERN, checked_url, normalise_url
from search.query import (
    COLLECTION_PATTERN as QUERY_COLLECTION_PATTERN,
)
from search.query import (
    DATE_PATTERN,
    LANG_PATTERN,
    QUERY_PATTERN,
    SITE_PATTERN,
    filters,
    parse,
)

REPEATABLE = settings(
    max_examples=300, derandomize=True, database=None, deadline=None,
    suppress_health_check=list(HealthCheck),
)  # fmt: skip


def anchored(pattern: str) -> str:
    return pattern if pattern.startswith("^") else f"^{pattern}$"


RULES: dict[str, tuple[str, Callable[[str], object]]] = {
    "fetchable URL": (FETCHABLE_URL_PATTERN, lambda url: checked_url(url, fetchable=True)),
    "URL": (URL_PATTERN, normalise_url),
    "archived URL": (ARCHIVED_URL_PATTERN, url_from_path),
    "collection": (COLLECTION_PATTERN, check_collection),
    "interval": (INTERVAL_PATTERN, parse_interval),
    "timestamp": (TIMESTAMP_SYNTAX, parse_timestamp),
    "Accept-Datetime": (HTTP_DATE_PATTERN, parsedate_to_datetime),
    "query": (QUERY_PATTERN, parse),
    "lang": (LANG_PATTERN, lambda value: filters(language=value)),
    "site": (SITE_PATTERN, lambda value: filters(site=value)),
    "after": (DATE_PATTERN, lambda value: filters(after=value)),
    "collection filter": (QUERY_COLLECTION_PATTERN, lambda value: filters(collection=value)),
}


@pytest.mark.parametrize("name", RULES)
def test_what_a_pattern_matches_is_accepted(name: str) -> None:
    pattern, rule = RULES[name]

    @REPEATABLE
    @given(st.from_regex(anchored(pattern), fullmatch=True))
    def accepted(value: str) -> None:
        rule(value)  # raises if the service would refuse it

    accepted()


@pytest.mark.parametrize(
    ("name", "refused"),
    [
        ("fetchable URL", ["ftp://example.org/", "http://", "example.org", "http://a b/"]),
        ("URL", ["example.org/page", "http://a:99999/", "http:///x"]),
        ("collection", ["", "-x", "a..b", "a/b", "x\n"]),
        ("interval", ["59", "59s", "0m", "1y", "3651d"]),
        ("timestamp", ["202", "20241301", "20240230", "2024010124"]),
        ("query", ['"open', "a OR", "OR a", "nofield:x", '""', "lang:english"]),
        ("site", ["com", "bbc.com/news"]),
    ],
)
def test_what_a_rule_refuses_the_pattern_refuses(name: str, refused: list[str]) -> None:
    pattern, rule = RULES[name]
    for value in refused:
        assert not re.fullmatch(anchored(pattern), value), value
        with pytest.raises(ValueError):
            rule(value)


def test_a_collection_is_the_rule_it_always_was() -> None:
    # The pattern replaced "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$ and no '..'" in check_collection.
    old = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")

    @REPEATABLE
    @given(st.text(alphabet="aZ09._-/ ", max_size=110))
    def same(name: str) -> None:
        try:
            check_collection(name)
            accepted = True
        except InvalidCollection:
            accepted = False
        assert accepted == bool(old.fullmatch(name) and ".." not in name)

    same()


def test_site_www_prefix_is_dropped_only_from_a_domain() -> None:
    assert filters(site="www.bbc.com") == filters(site="bbc.com")
    assert filters(site="www.com").value == "www.com"
