"""Front matter: what a valid article becomes, and one clear line for each kind of mistake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drux.errors import InputError
from drux.hub.articles import load_markdown_file, parse_article, slugify

GOOD = """---
title: "Probe  reaches the Sun's far side"
source: https://news.example.com/probe
date: 2026-11-20
tags: [Space, deep space, space]
summary: One line.
faq:
  - When will it send pictures?
  - question: Is it over budget?
    answer: Slightly, by the agency's own numbers.
---
The **body**.
"""


def test_valid_article_is_normalised() -> None:
    doc = parse_article(GOOD, "probe.md", "Probe Launch")
    assert doc.slug == "probe-launch"
    assert doc.title == "Probe reaches the Sun's far side"
    assert doc.source_url == "https://news.example.com/probe"
    assert doc.published == datetime(2026, 11, 20, tzinfo=UTC)
    assert doc.tags == ["space", "deep-space"]
    assert doc.faq == [
        {"question": "When will it send pictures?", "answer": None},
        {"question": "Is it over budget?", "answer": "Slightly, by the agency's own numbers."},
    ]
    assert doc.body_md == "The **body**."


def test_crlf_bom_datetime_with_offset_and_comma_tags() -> None:
    text = ("\ufeff---\r\ntitle: T\r\ndate: 2026-11-20T10:00:00+02:00\r\ntags: a, b\r\n"
            "---\r\nbody\r\n")
    doc = parse_article(text, "t.md", "t")
    assert doc.published == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    assert doc.tags == ["a", "b"]


def test_slug_falls_back_to_the_title_and_transliterates() -> None:
    assert slugify("Ünïcode  títle -- 2026!") == "unicode-title-2026"
    doc = parse_article("---\ntitle: Café au lait\ndate: 2026-01-02\n---\nx", "___.md", "___")
    assert doc.slug == "cafe-au-lait"


@pytest.mark.parametrize(("text", "message"), [
    ("title: T\n---\nbody", "no front matter"),
    ("---\ntitle: T\ndate: 2026-01-01\nbody", "not closed"),
    ("---\ntitle: [unclosed\ndate: 2026-01-01\n---\nbody", "not valid YAML"),
    ("---\n- a\n- b\n---\nbody", "must be a mapping"),
    ("---\ndate: 2026-01-01\n---\nbody", "field 'title' is required"),
    ("---\ntitle: T\n---\nbody", "field 'date' is required"),
    ("---\ntitle: T\ndate: 2026-13-45\n---\nbody", "impossible date: month must be in 1..12"),
    ("---\ntitle: T\ndate: \"2026-13-45\"\n---\nbody", "field 'date'"),
    ("---\ntitle: T\ndate: soon\n---\nbody", "'soon' is not a date"),
    ("---\ntitle: T\ndate: 2026-01-01\ntitel: typo\n---\nbody", "unknown field 'titel'"),
    ("---\ntitle: 42\ndate: 2026-01-01\n---\nbody", "field 'title': must be non-empty text"),
    ("---\ntitle: T\ndate: 2026-01-01\nsource: javascript:alert(1)\n---\nb", "field 'source'"),
    ("---\ntitle: T\ndate: 2026-01-01\nsource: ftp://x.example/a\n---\nb", "http(s) URL"),
    ("---\ntitle: T\ndate: 2026-01-01\ntags: [\"a%b\"]\n---\nb", "field 'tags'"),
    ("---\ntitle: T\ndate: 2026-01-01\ntags: {a: 1}\n---\nb", "field 'tags'"),
    ("---\ntitle: T\ndate: 2026-01-01\nfaq: Why?\n---\nb", "field 'faq'"),
    ("---\ntitle: T\ndate: 2026-01-01\nfaq:\n  - q: Why?\n---\nb", "field 'faq[1]': unknown key 'q'"),
    ("---\ntitle: T\ndate: 2026-01-01\nfaq:\n  - Why?\n  - Why?\n---\nb", "field 'faq[2]'"),
    ("---\ntitle: T\ndate: 2026-01-01\nfaq: [\"\"]\n---\nb", "field 'faq[1]'"),
    ("---\ntitle: T\ndate: 2026-01-01\n---\n   \n", "neither a body nor a summary"),
])
def test_each_mistake_is_one_line_naming_file_and_field(text: str, message: str) -> None:
    with pytest.raises(InputError) as err:
        parse_article(text, "content/bad.md", "bad")
    line = str(err.value)
    assert line.startswith("content/bad.md: ")
    assert message in line
    assert "\n" not in line


def test_unreadable_files(tmp_path: Path) -> None:
    binary = tmp_path / "bin.md"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match="not UTF-8"):
        load_markdown_file(binary)
    with pytest.raises(InputError, match="cannot read"):
        load_markdown_file(tmp_path / "missing.md")


@pytest.mark.parametrize("value", [
    "0001-01-01T00:00:00+14:00", "'0001-01-01T00:00:00+14:00'", "9999-12-31T23:59:59-14:00",
    "'9999-12-31T23:59:59-01:00'", "0001-01-01 00:00:00.5+01:00"])
def test_a_date_out_of_range_in_utc_names_file_and_field(value: str) -> None:
    with pytest.raises(InputError) as err:
        parse_article(f"---\ntitle: T\ndate: {value}\n---\nbody", "content/old.md", "old")
    assert str(err.value).startswith("content/old.md: field 'date': ")
    assert "out of range" in str(err.value)


def test_deeply_nested_front_matter_is_one_line() -> None:
    with pytest.raises(InputError, match=r"^content/deep.md: front matter is nested too deeply"):
        parse_article("---\ntitle: T\ndate: 2026-01-01\nfaq: " + "[" * 50_000 + "\n---\nb",
                      "content/deep.md", "deep")


def _yaml_values() -> st.SearchStrategy[object]:
    offsets = st.timedeltas(min_value=-timedelta(hours=23, minutes=59),
                            max_value=timedelta(hours=23, minutes=59))
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20),
        st.dates(), st.datetimes(timezones=st.builds(timezone, offsets)),
        st.datetimes(timezones=st.builds(timezone, offsets)).map(lambda d: d.isoformat()))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(["title", "source", "date", "tags", "summary", "faq"]),
       value=_yaml_values())
def test_any_value_of_any_field_is_accepted_or_one_line_naming_it(field: str,
                                                                   value: object) -> None:
    import yaml

    front = yaml.safe_dump({"title": "T", "date": "2026-01-01", "summary": "s", field: value})
    try:
        parse_article(f"---\n{front}---\nbody", "content/any.md", "any")
    except InputError as exc:
        line = str(exc)
        assert line.startswith("content/any.md: ") and "\n" not in line
        assert f"'{field}" in line, line
