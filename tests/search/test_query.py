"""The query language: every operator, Chinese and mixed queries, and clear syntax errors."""

from __future__ import annotations

from datetime import date

import pytest

from search.query import (
    All,
    And,
    DateRange,
    Filter,
    Not,
    Or,
    QuerySyntaxError,
    Text,
    conjoin,
    filters,
    parse,
)


def test_words_are_anded():
    assert parse("organ transplant") == And((Text("organ"), Text("transplant")))


def test_single_word_and_empty_query():
    assert parse("tribunal") == Text("tribunal")
    assert parse("") == All()
    assert parse("   ") == All()


def test_phrase_keeps_words_together_and_normalises_spaces():
    assert parse('"organ   harvesting" china') == And(
        (Text("organ harvesting", phrase=True), Text("china"))
    )


def test_exclusion_of_words_phrases_and_filters():
    assert parse('rights -rumour -"fake news" -lang:zh') == And(
        (
            Text("rights"),
            Not(Text("rumour")),
            Not(Text("fake news", phrase=True)),
            Not(Filter("lang", "zh")),
        )
    )


def test_or_binds_tighter_than_and():
    assert parse("Falun OR 法轮功 persecution") == And(
        (Or((Text("Falun"), Text("法轮功"))), Text("persecution"))
    )
    assert parse("a OR b OR c") == Or((Text("a"), Text("b"), Text("c")))


def test_lowercase_or_is_a_word():
    assert parse("this or that") == And((Text("this"), Text("or"), Text("that")))


def test_fields():
    assert parse("lang:ZH site:www.BBC.com collection:reports-2024") == And(
        (Filter("lang", "zh"), Filter("site", "bbc.com"), Filter("collection", "reports-2024"))
    )
    assert parse('title:tribunal title:"china tribunal"') == And(
        (Text("tribunal", field="title"), Text("china tribunal", phrase=True, field="title"))
    )


def test_dates_fold_into_one_range():
    assert parse("after:2020-01-01 before:2021") == DateRange(date(2020, 1, 1), date(2021, 1, 1))
    assert parse("after:2019 after:2020-06") == DateRange(start=date(2020, 6, 1))
    assert parse("x before:2020-02-29") == And((Text("x"), DateRange(end=date(2020, 2, 29))))


def test_chinese_and_mixed_queries():
    assert parse("器官移植") == Text("器官移植")
    assert parse("法輪功 -謠言") == And((Text("法輪功"), Not(Text("謠言"))))
    assert parse('Falun Gong 法轮功 "中共 迫害"') == And(
        (Text("Falun"), Text("Gong"), Text("法轮功"), Text("中共 迫害", phrase=True))
    )
    assert parse("title:法轮功 lang:zh") == And(
        (Text("法轮功", field="title"), Filter("lang", "zh"))
    )


def test_hyphenated_words_and_times_are_words():
    assert parse("COVID-19 12:30") == And((Text("COVID-19"), Text("12:30")))


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('"organ harvesting', "unbalanced quote"),
        ('organ harvesting"', "unbalanced quote"),
        ('say"hello', "unbalanced quote"),
        ('""', "empty phrase"),
        ("rights OR", "OR at the end"),
        ("OR rights", "needs a word or phrase on each side"),
        ("a OR OR b", "needs a word or phrase on each side"),
        ("a - b", "'-' at position 3"),
        ("foo:bar", "unknown field 'foo'"),
        ("http://example.org", "unknown field 'http'"),
        ("lang:", "lang: needs a value"),
        ("after: 2020", "after: needs a value"),
        ("after:2020-13-01", "not a valid date"),
        ("before:2020-02-30", "not a valid date"),
        ("after:yesterday", "is not a date"),
        ("lang:chinese!", "not a language code"),
        ("site:localhost", "not a domain"),
        ("collection:../etc", "not a collection name"),
        ("word " * 65, "too many terms"),
        ("x" * 2001, "query too long"),
    ],
)
def test_malformed_queries_get_clear_errors(query, message):
    with pytest.raises(QuerySyntaxError, match=message.replace("(", r"\(")):
        parse(query)


def test_command_line_filters_are_validated_and_conjoined():
    tree = conjoin(parse("rights after:2019"), filters(language="en", before="2021-06"))
    assert tree == And(
        (Text("rights"), Filter("lang", "en"), DateRange(date(2019, 1, 1), date(2021, 6, 1)))
    )
    assert filters() == All()
    with pytest.raises(QuerySyntaxError):
        filters(after="2020-99")
    with pytest.raises(QuerySyntaxError):
        filters(site="bbc.com lang:zh")
