"""HubService over a real SQLite store: search, tags, pages, imports that never lose data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drux.errors import InputError
from drux.hub import HubService
from drux.services import Services


def _article(folder: Path, stem: str, title: str, date: str, tags: str = "[]",
             body: str = "Body text.", extra: str = "") -> Path:
    path = folder / f"{stem}.md"
    path.write_text(f"---\ntitle: {title}\ndate: {date}\ntags: {tags}\n{extra}---\n{body}\n",
                    encoding="utf-8")
    return path


@pytest.fixture
def hub(drux_env: Path) -> Iterator[HubService]:
    services = Services.from_settings()
    yield HubService(services)
    services.store.close()


@pytest.fixture
def twelve(hub: HubService, tmp_path: Path) -> HubService:
    folder = tmp_path / "twelve"
    folder.mkdir()
    for i in range(1, 13):
        tags = "[space]" if i % 3 == 0 else "[climate, weather]"
        body = "The rover found water ice." if i == 7 else f"Ordinary story number {i}."
        _article(folder, f"story-{i:02d}", f"Story {i}", f"2026-11-{i:02d}", tags, body)
    assert len(hub.import_path(folder)) == 12
    return hub


def test_newest_first_and_pages(twelve: HubService) -> None:
    page1, total = twelve.list_articles(page=1, per_page=5)
    page3, _ = twelve.list_articles(page=3, per_page=5)
    assert total == 12
    assert [a.id for a in page1] == [f"story-{i:02d}" for i in (12, 11, 10, 9, 8)]
    assert [a.id for a in page3] == ["story-02", "story-01"]
    assert twelve.list_articles(page=4, per_page=5) == ([], 12)
    assert page1[0].published == datetime(2026, 11, 12, tzinfo=UTC)


def test_text_search_every_word_any_case_any_field(twelve: HubService) -> None:
    items, total = twelve.list_articles(query="WATER rover")
    assert total == 1 and items[0].id == "story-07"
    assert twelve.list_articles(query="story 12")[1] == 1  # title words
    assert twelve.list_articles(query="water mars")[1] == 0
    assert twelve.list_articles(query="100%")[1] == 0  # LIKE wildcards are literal
    assert twelve.list_articles(query="_")[1] == 0


def test_tag_filter_and_tag_lists(twelve: HubService) -> None:
    items, total = twelve.list_articles(tag="Space", per_page=100)
    assert total == 4 and {a.id for a in items} == {"story-03", "story-06", "story-09", "story-12"}
    assert twelve.list_articles(tag="spa")[1] == 0  # whole tags only
    assert twelve.list_articles(tag="%")[1] == 0
    assert twelve.list_articles(query="rover", tag="climate")[1] == 1
    assert twelve.all_tags() == ["climate", "space", "weather"]
    assert twelve.tag_counts() == [("climate", 8), ("weather", 8), ("space", 4)]


@pytest.mark.parametrize(("page", "per_page"), [(0, 10), (1, 0), (1, 101)])
def test_bad_paging_is_an_input_error(hub: HubService, page: int, per_page: int) -> None:
    with pytest.raises(InputError):
        hub.list_articles(page=page, per_page=per_page)


def test_article_view(hub: HubService, tmp_path: Path) -> None:
    _article(tmp_path, "x", "X <b>marks</b>", "2026-11-01", "[a]",
             body="Hello <script>alert(1)</script> [bad](javascript:alert(1))",
             extra="source: https://www.news.example.com/x\nfaq:\n  - question: Why?\n"
                   "    answer: \"**Because** <img src=x onerror=alert(1)>\"\n")
    hub.import_path(tmp_path / "x.md")
    view = hub.get_article("x")
    assert view is not None
    assert view.title == "X <b>marks</b>"  # plain text: the page escapes it
    assert view.source_domain == "news.example.com"
    assert "<script>" not in view.body_html and "&lt;script&gt;" in view.body_html
    assert "href" not in view.body_html  # the javascript: link is not a link
    assert view.summary and view.summary.startswith("Hello")  # derived from the body
    assert view.faq[0]["answer_html"] == "<p><strong>Because</strong> &lt;img src=x onerror=alert(1)&gt;</p>\n"
    assert hub.get_article("nope") is None
    assert hub.get_article("../etc/passwd") is None
    assert view.to_dict()["published"] == "2026-11-01T00:00:00+00:00"


def test_a_bad_file_imports_nothing_and_keeps_what_was_there(hub: HubService,
                                                                 tmp_path: Path) -> None:
    first = tmp_path / "first"
    first.mkdir()
    _article(first, "kept", "Kept", "2026-11-01", body="Original body.")
    hub.import_path(first)

    batch = tmp_path / "batch"
    batch.mkdir()
    _article(batch, "kept", "Kept", "2026-11-01", body="Changed body.")
    _article(batch, "new-one", "New one", "2026-11-02")
    (batch / "zz-broken.md").write_text("---\ntitle: Broken\ndate: someday\n---\nx\n")
    with pytest.raises(InputError) as err:
        hub.import_path(batch)
    assert "zz-broken.md: field 'date'" in str(err.value)
    assert "nothing was imported" in str(err.value)

    items, total = hub.list_articles()
    assert total == 1
    assert "Original body." in items[0].body_html


def test_errors_from_several_files_are_counted(hub: HubService, tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.md").write_text("no front matter")
    with pytest.raises(InputError, match=r"a\.md: no front matter .*and 2 more problems"):
        hub.import_path(tmp_path)


def test_reimport_updates_in_place(hub: HubService, tmp_path: Path) -> None:
    path = _article(tmp_path, "story", "Story", "2026-11-01", body="First.")
    hub.import_path(path)
    _article(tmp_path, "story", "Story, revised", "2026-11-01", body="Second.")
    assert hub.import_path(path) == ["story"]
    view = hub.get_article("story")
    assert view is not None and view.title == "Story, revised" and "Second." in view.body_html
    assert hub.list_articles()[1] == 1


def test_a_feed_entry_does_not_overwrite_an_article_that_shares_its_title(
        hub: HubService, tmp_path: Path) -> None:
    _article(tmp_path, "cranes-counted", "Cranes counted", "2026-11-01",
             extra="source: https://mine.example.com/cranes\n")
    hub.import_path(tmp_path / "cranes-counted.md")
    feed = tmp_path / "feed.xml"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        "<item><title>Cranes counted</title><link>https://desk.example.com/cranes</link>"
        "<description>Theirs.</description></item></channel></rss>")
    (slug,) = hub.import_path(feed)
    assert slug != "cranes-counted" and slug.startswith("cranes-counted-")
    assert hub.import_path(feed) == [slug]  # stable on re-import
    mine = hub.get_article("cranes-counted")
    assert mine is not None and mine.source_url == "https://mine.example.com/cranes"
    assert hub.list_articles()[1] == 2


def test_duplicate_ids_in_one_batch_are_refused(hub: HubService, tmp_path: Path) -> None:
    _article(tmp_path, "a b", "One", "2026-11-01")
    _article(tmp_path, "a-b", "Two", "2026-11-01")
    with pytest.raises(InputError, match="article id 'a-b' is also used by"):
        hub.import_path(tmp_path)
    assert hub.list_articles()[1] == 0


def test_missing_or_empty_paths(hub: HubService, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or folder"):
        hub.import_path(tmp_path / "missing")
    with pytest.raises(InputError, match="no Markdown"):
        hub.import_path(tmp_path)
    pipe = tmp_path / "feed.xml"
    os.mkfifo(pipe)  # reading it would wait for a writer forever
    with pytest.raises(InputError, match="not a regular file"):
        hub.import_path(pipe)


def test_ensure_loaded_imports_the_samples_once(hub: HubService) -> None:
    slugs = hub.ensure_loaded()
    assert len(slugs) >= 8  # five Markdown articles and the sample feed's entries
    assert hub.ensure_loaded() == []
    items, total = hub.list_articles(per_page=100)
    assert total == len(slugs)
    with_faq = [a for a in items if a.faq]
    assert len(with_faq) >= 4 and all(len(a.faq) == 3 for a in with_faq)
    assert all(a.source_domain and a.published for a in items)


def test_folders_are_searched_recursively_but_hidden_ones_are_skipped(hub: HubService,
                                                                       tmp_path: Path) -> None:
    (tmp_path / "2026" / "11").mkdir(parents=True)
    _article(tmp_path / "2026" / "11", "nested", "Nested", "2026-11-03")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "junk.md").write_text("not an article")
    (tmp_path / "notes.txt").write_text("ignored")
    assert hub.import_path(tmp_path) == ["nested"]
