"""RSS and Atom feed *files* to Hub articles (feedparser; never the network).

The file's bytes are handed to feedparser, so a path that looks like a URL is
never fetched. Feed HTML (summaries, content) is reduced to plain paragraphs
and stored as Markdown with its punctuation escaped: the article page renders
it through the same sanitizer as everything else, and no feed markup, link
or image reaches the page. Each entry keeps its link as the source, its
published (or updated) date, its categories as tags.

FAQ: a feed says nothing about which questions are worth asking, so imported
entries get no FAQ rather than invented questions; an editor can add some by
turning the entry into a Markdown file.
"""

from __future__ import annotations

import hashlib
import re
from calendar import timegm
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from drux.errors import InputError
from drux.hub.articles import (
    MAX_FILE_BYTES,
    MAX_TAGS,
    MAX_TITLE,
    ArticleDoc,
    normalize_tag,
    slugify,
)
from drux.hub.render import safe_url

FEED_SUFFIXES = (".xml", ".rss", ".atom")
SUMMARY_CHARS = 280
MAX_BODY_CHARS = 100_000
MAX_FUTURE = timedelta(days=2)  # clock skew and time zones, not more
_BLOCKS = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
           "tr", "section", "article", "ul", "ol", "table", "hr"}
_MD_INLINE = re.compile(r"([\\`*_\[\]<>|~])")
_MD_LINE_START = re.compile(r"^(\s*)([#>+\-=]|\d+[.)])", re.MULTILINE)


class _TextExtractor(HTMLParser):
    """HTML to text, one paragraph per block element; scripts and styles dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_paragraphs(html: str) -> list[str]:
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


def escape_markdown(text: str) -> str:
    return _MD_LINE_START.sub(r"\1\\\2", _MD_INLINE.sub(r"\\\1", text))


def looks_like_feed(path: Path) -> bool:
    if path.suffix.lower() in FEED_SUFFIXES:
        return True
    try:
        with path.open("rb") as fh:
            head = fh.read(512).lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    except OSError:
        return False
    return head.startswith((b"<?xml", b"<rss", b"<feed", b"<rdf"))


def _published(entry: Any, label: str) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                moment = datetime.fromtimestamp(timegm(value), UTC)
            except (OverflowError, ValueError, OSError):
                raise InputError(f"{label}: its date {entry.get(key[:-7])!r} is out of range "
                                 f"(field '{key[:-7]}')") from None
            # Far-future dates (e.g. a garbled 9999-99-99) would pin the entry atop the Hub.
            if moment > datetime.now(UTC) + MAX_FUTURE:
                raise InputError(f"{label}: its date {moment:%Y-%m-%d} is in the future "
                                 f"(field '{key[:-7]}')")
            return moment
    return None


def _tags(entry: Any) -> list[str]:
    tags: list[str] = []
    for t in entry.get("tags") or []:
        tag = normalize_tag(str(t.get("term") or t.get("label") or ""))
        if tag and tag not in tags:
            tags.append(tag)
    return tags[:MAX_TAGS]


def _body_and_summary(entry: Any) -> tuple[str, str | None]:
    content = entry.get("content") or []
    summary_html = str(entry.get("summary") or "")
    body_html = str(content[0].get("value") or "") if content else summary_html
    body = html_to_paragraphs(body_html)
    summary = " ".join(html_to_paragraphs(summary_html)) or " ".join(body)
    if len(summary) > SUMMARY_CHARS:
        summary = summary[: SUMMARY_CHARS - 1].rstrip() + "…"
    body_md = "\n\n".join(escape_markdown(p) for p in body)[:MAX_BODY_CHARS]
    return body_md, summary or None


def entry_to_doc(entry: Any, where: str, index: int) -> ArticleDoc:
    label = f"{where}: entry {index}"
    title = " ".join(str(entry.get("title") or "").split())
    if not title:
        raise InputError(f"{label}: no title")
    link = str(entry.get("link") or "").strip() or None
    if link is not None and (not safe_url(link) or link.lower().startswith("mailto:")):
        raise InputError(f"{label}: link {link[:80]!r} is not an http(s) URL")
    body_md, summary = _body_and_summary(entry)
    slug = slugify(title)
    if not slug:
        # A title in a script slugify cannot transliterate: name it by its link or position.
        slug = "feed-" + hashlib.sha256((link or f"{where}#{index}").encode()).hexdigest()[:10]
    return ArticleDoc(slug=slug, title=title[:MAX_TITLE], source_url=link,
                      published=_published(entry, label), tags=_tags(entry), summary=summary,
                      body_md=body_md, faq=[], origin=label, kind="feed")


def load_feed(path: Path) -> list[ArticleDoc]:
    """Every entry of an RSS or Atom file, validated; one bad entry fails the file."""
    import feedparser

    where = str(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES * 10:
            raise InputError(f"{where}: feed file is larger than {MAX_FILE_BYTES * 10 // 1_000_000} MB")
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{where}: cannot read: {exc.strerror}") from None
    parsed = feedparser.parse(data)
    version = parsed.get("version") or ""
    if not version or (parsed.get("bozo") and not parsed.entries):
        why = parsed.get("bozo_exception")
        detail = f" ({str(why).splitlines()[0][:120]})" if why else ""
        raise InputError(f"{where}: not an RSS or Atom feed{detail}")
    if not parsed.entries:
        raise InputError(f"{where}: the feed has no entries")
    docs = [entry_to_doc(e, where, i) for i, e in enumerate(parsed.entries, 1)]
    _dedupe_slugs(docs)
    return docs


def _dedupe_slugs(docs: list[ArticleDoc]) -> None:
    """Two entries with the same title keep distinct ids, stable across re-imports."""
    seen: set[str] = set()
    for doc in docs:
        if doc.slug in seen:
            key = doc.source_url or doc.origin
            doc.slug = suffixed_slug(doc.slug, key)
        seen.add(doc.slug)


def suffixed_slug(slug: str, key: str) -> str:
    """``slug`` made distinct by a short hash of ``key`` (stable across imports)."""
    return f"{slug[:69]}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"
