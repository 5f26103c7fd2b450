"""RSS and Atom files become articles: link as source, dates, categories as tags, no markup."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from drux.errors import InputError
from drux.hub.feeds import load_feed, looks_like_feed
from drux.hub.render import render_markdown

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
<title>Desk</title><link>https://desk.example.com/</link><description>d</description>
<item>
  <title>Bridge reopens &amp; traffic returns</title>
  <link>https://desk.example.com/bridge</link>
  <pubDate>Tue, 24 Nov 2026 10:30:00 +0100</pubDate>
  <category>Transport</category><category>City News</category>
  <description>&lt;p&gt;The bridge &lt;b&gt;reopened&lt;/b&gt;.&lt;/p&gt;&lt;script&gt;alert('s')&lt;/script&gt;&lt;p&gt;Second *paragraph* [x](javascript:alert(1))&lt;/p&gt;&lt;img src="https://t.example/p.gif" onerror="alert(2)"&gt;</description>
</item>
<item>
  <title>Bridge reopens &amp; traffic returns</title>
  <link>https://desk.example.com/bridge-2</link>
  <description>Same title, other story.</description>
</item>
</channel></rss>
"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Desk</title><id>tag:desk.example.com,2026:feed</id><updated>2026-11-25T09:00:00Z</updated>
  <entry>
    <title>Cranes counted</title>
    <id>tag:desk.example.com,2026:cranes</id>
    <link href="https://desk.example.com/cranes"/>
    <updated>2026-11-23T17:00:00Z</updated>
    <category term="nature"/>
    <summary>Short summary.</summary>
    <content type="html">&lt;p&gt;Full body one.&lt;/p&gt;&lt;p&gt;Full body two.&lt;/p&gt;</content>
  </entry>
</feed>
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_rss_items_become_articles(tmp_path: Path) -> None:
    first, second = load_feed(_write(tmp_path, "desk.rss", RSS))
    assert first.slug == "bridge-reopens-traffic-returns"
    assert first.title == "Bridge reopens & traffic returns"
    assert first.source_url == "https://desk.example.com/bridge"
    assert first.published == datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    assert first.tags == ["transport", "city-news"]
    assert first.faq == [] and first.kind == "feed"
    assert "reopened" in first.body_md
    assert "alert('s')" not in first.body_md and "alert(2)" not in first.body_md
    assert "<" not in first.body_md and "\\*paragraph\\*" in first.body_md
    assert "\\[x\\]" in first.body_md  # the Markdown link syntax is escaped, not rendered
    assert "<a " not in render_markdown(first.body_md)
    # Same title twice: distinct, stable ids.
    assert second.slug.startswith("bridge-reopens-traffic-returns-")
    assert second.slug == load_feed(tmp_path / "desk.rss")[1].slug
    assert second.published is None


def test_atom_entry_uses_content_as_body_and_summary_as_summary(tmp_path: Path) -> None:
    (doc,) = load_feed(_write(tmp_path, "desk.atom", ATOM))
    assert doc.slug == "cranes-counted"
    assert doc.summary == "Short summary."
    assert doc.body_md == "Full body one.\n\nFull body two."
    assert doc.published == datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
    assert doc.source_url == "https://desk.example.com/cranes"


def test_feed_detection_by_suffix_or_content(tmp_path: Path) -> None:
    assert looks_like_feed(_write(tmp_path, "a.txt", ATOM))
    assert not looks_like_feed(_write(tmp_path, "b.md", "---\ntitle: x\n---\n"))


@pytest.mark.parametrize(("text", "message"), [
    ("this is not xml at all", "not an RSS or Atom feed"),
    ('<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>',
     "the feed has no entries"),
    ('<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item>'
     "<link>https://a.example/x</link></item></channel></rss>", "entry 1: no title"),
    ('<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>T</title>'
     "<link>javascript:alert(1)</link></item></channel></rss>", "entry 1: link"),
    # A garbled date became 9999-11-01 and pinned the entry atop the Hub.
    ('<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry>'
     "<title>T</title><link href=\"https://a.example/x\"/><id>https://a.example/x</id>"
     "<updated>9999-99-99</updated></entry></feed>",
     "entry 1: its date 9999-"),
    ('<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>T</title>'
     "<pubDate>Fri, 01 Jan 2100 00:00:00 GMT</pubDate></item></channel></rss>",
     "entry 1: its date 2100-01-01 is in the future"),
])
def test_bad_feeds_fail_with_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, "bad.xml", text)
    with pytest.raises(InputError) as err:
        load_feed(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)
    assert "\n" not in str(err.value)


def test_shipped_sample_feed_parses() -> None:
    from drux.hub.service import SAMPLE_CONTENT

    docs = load_feed(SAMPLE_CONTENT / "sample-feed.xml")
    assert len(docs) == 3
    assert all(d.source_url and d.published and d.tags for d in docs)


@pytest.mark.parametrize(("element", "value", "field"), [
    ("published", "0001-01-01T00:00:00+14:00", "published"),
    ("updated", "9999-12-31T23:59:59-14:00", "updated"),
    ("published", "2100-01-01T00:00:00Z", "published"),
])
def test_a_bad_entry_date_names_file_entry_and_field(tmp_path: Path, element: str, value: str,
                                                     field: str) -> None:
    path = _write(tmp_path, "dates.xml", (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry>'
        f'<title>T</title><link href="https://a.example/x"/><{element}>{value}</{element}>'
        "</entry></feed>"))
    with pytest.raises(InputError) as err:
        load_feed(path)
    assert str(err.value).startswith(f"{path}: entry 1: its date ")
    assert str(err.value).endswith(f"(field '{field}')")
