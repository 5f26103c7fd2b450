"""Hub articles as Markdown files with a front matter block.

    ---
    title: Probe reaches the far side of the Sun
    source: https://news.example.com/probe
    date: 2026-11-20
    tags: [space, science]
    summary: One line for the article list.
    faq:
      - When will the probe send its first pictures?
      - question: Is the mission over budget?
        answer: An optional answer written by the editor.
    ---
    The body, in Markdown.

The front matter is YAML (read with ``yaml.safe_load``) and checked strictly:
``title`` and ``date`` are required, unknown fields are errors (a typo such as
``titel`` must not pass silently), and every problem is one line naming the
file and the field. The slug (the article id) is the file name without
``.md``, or the title when the file name has no usable characters.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from drux.errors import InputError
from drux.hub.render import safe_url

FIELDS = ("title", "source", "date", "tags", "summary", "faq")
REQUIRED = ("title", "date")
MAX_FILE_BYTES = 1_000_000
MAX_TITLE = 300
MAX_SUMMARY = 2000
MAX_TAGS = 20
MAX_FAQ = 20
MAX_QUESTION = 500
MAX_ANSWER = 4000
SLUG_MAX = 80
_TAG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


@dataclass(slots=True)
class ArticleDoc:
    """One article ready to be stored: validated, normalised, not yet rendered."""

    slug: str
    title: str
    source_url: str | None = None
    published: datetime | None = None
    tags: list[str] = field(default_factory=list)
    summary: str | None = None
    body_md: str = ""
    faq: list[dict[str, str | None]] = field(default_factory=list)
    origin: str = ""  # the file (and feed entry) it came from, for error messages
    kind: str = "markdown"  # or "feed"


def slugify(text: str, max_len: int = SLUG_MAX) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_len].rstrip("-")


def normalize_tag(raw: str) -> str:
    """Lower case, words joined by hyphens; '' when nothing usable is left."""
    return slugify(raw, max_len=40)


def split_front_matter(text: str, where: str) -> tuple[str, str]:
    """(front matter, body) of a Markdown file that starts with a ``---`` block."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise InputError(f"{where}: no front matter (the file must start with a '---' line)")
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            return "\n".join(lines[1:i]), "\n".join(lines[i + 1:]).strip("\n")
    raise InputError(f"{where}: the front matter is not closed by a '---' line")


def _load_yaml(block: str, where: str) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(block)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (front matter line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise InputError(f"{where}: front matter is not valid YAML{line}: {problem}") from None
    except RecursionError:  # thousands of nested [ or {: PyYAML composes them recursively
        raise InputError(f"{where}: front matter is nested too deeply") from None
    except (ValueError, OverflowError, AttributeError, TypeError) as exc:
        # A value that is no value of its type: 2026-13-45, or a tag such as !!timestamp
        # on a string PyYAML cannot parse (it fails there with an AttributeError).
        name, tag = _failing_field(block)
        what = f"impossible date: {exc}" if tag.endswith(":timestamp") and \
            isinstance(exc, ValueError) else f"not a valid {tag.rsplit(':', 1)[-1] or 'value'}"
        raise InputError(f"{where}: {name}{what}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{where}: front matter must be a mapping of fields (title: ..., date: ...)")
    return data


def _failing_field(block: str) -> tuple[str, str]:
    """("field 'x': ", tag) of the first value in the front matter YAML cannot build."""
    import yaml

    def fails(node: yaml.Node) -> bool:
        try:
            yaml.SafeLoader("").construct_document(node)
            return False
        except (ValueError, OverflowError, AttributeError, TypeError, yaml.YAMLError):
            return True

    def leaves(node: yaml.Node) -> list[yaml.Node]:
        if isinstance(node, yaml.ScalarNode):
            return [node]
        items = [n for item in node.value for n in (item if isinstance(item, tuple) else (item,))]
        return [leaf for item in items for leaf in leaves(item)]

    try:
        root = yaml.compose(block, Loader=yaml.SafeLoader)
        fields = root.value if isinstance(root, yaml.MappingNode) else []
    except (yaml.YAMLError, RecursionError):
        fields = []
    for key, value in fields:
        if fails(value):
            bad = next((leaf for leaf in leaves(value) if fails(leaf)), value)
            return f"field '{key.value}': ", str(bad.tag)
    return "front matter: ", ""


def _text(value: Any, where: str, name: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: field '{name}': must be non-empty text")
    value = " ".join(value.split())
    if len(value) > limit:
        raise InputError(f"{where}: field '{name}': longer than {limit} characters")
    return value


def parse_date(value: Any, where: str, name: str = "date") -> datetime:
    """A date or date-time; naive values are taken as UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InputError(
                f"{where}: field '{name}': {value!r} is not a date (use YYYY-MM-DD)") from None
    else:
        raise InputError(f"{where}: field '{name}': must be a date like 2026-11-20")
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+14:00 is in year 0 in UTC
        raise InputError(f"{where}: field '{name}': {value!s} is out of range once moved "
                         "to UTC (years 1 to 9999)") from None


def parse_source(value: Any, where: str) -> str:
    url = _text(value, where, "source", 2000)
    if not safe_url(url) or url.lower().startswith("mailto:"):
        raise InputError(f"{where}: field 'source': must be an http(s) URL, got {url[:80]!r}")
    return url


def parse_tags(value: Any, where: str) -> list[str]:
    items = [p for p in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise InputError(f"{where}: field 'tags': must be a list like [space, science]")
    if len(items) > MAX_TAGS:
        raise InputError(f"{where}: field 'tags': more than {MAX_TAGS} tags")
    tags: list[str] = []
    for item in items:
        if not isinstance(item, str | int) or isinstance(item, bool):
            raise InputError(f"{where}: field 'tags': {item!r} is not a tag name")
        tag = str(item).strip().lower().replace(" ", "-").replace("_", "-")
        if not _TAG.match(tag):
            raise InputError(
                f"{where}: field 'tags': {item!r} is not a tag (letters, digits and '-', "
                "at most 40 characters)")
        if tag not in tags:
            tags.append(tag)
    return tags


def parse_faq(value: Any, where: str) -> list[dict[str, str | None]]:
    if not isinstance(value, list):
        raise InputError(f"{where}: field 'faq': must be a list of questions")
    if len(value) > MAX_FAQ:
        raise InputError(f"{where}: field 'faq': more than {MAX_FAQ} questions")
    out: list[dict[str, str | None]] = []
    for i, item in enumerate(value, 1):
        name = f"faq[{i}]"
        answer: str | None = None
        if isinstance(item, dict):
            unknown = sorted(set(map(str, item)) - {"question", "answer"})
            if unknown:
                raise InputError(f"{where}: field '{name}': unknown key {unknown[0]!r} "
                                 "(use question and answer)")
            question = _text(item.get("question"), where, f"{name}.question", MAX_QUESTION)
            if item.get("answer") is not None:
                answer = _text(item["answer"], where, f"{name}.answer", MAX_ANSWER)
        else:
            question = _text(item, where, name, MAX_QUESTION)
        if any(q["question"] == question for q in out):
            raise InputError(f"{where}: field '{name}': the question {question!r} is repeated")
        out.append({"question": question, "answer": answer})
    return out


def parse_article(text: str, where: str, stem: str = "") -> ArticleDoc:
    """Parse and validate one Markdown article; ``where`` names it in errors."""
    block, body = split_front_matter(text, where)
    data = _load_yaml(block, where)
    unknown = [str(k) for k in data if k not in FIELDS]
    if unknown:
        raise InputError(f"{where}: unknown field '{unknown[0]}' (known: {', '.join(FIELDS)})")
    for name in REQUIRED:
        if data.get(name) is None:
            raise InputError(f"{where}: field '{name}' is required")
    title = _text(data["title"], where, "title", MAX_TITLE)
    slug = slugify(stem) or slugify(title)
    if not slug:
        raise InputError(f"{where}: cannot make an article id from the file name or the title")
    summary = data.get("summary")
    doc = ArticleDoc(
        slug=slug, title=title, published=parse_date(data["date"], where),
        source_url=parse_source(data["source"], where) if data.get("source") is not None else None,
        tags=parse_tags(data.get("tags") or [], where),
        summary=_text(summary, where, "summary", MAX_SUMMARY) if summary is not None else None,
        body_md=body, faq=parse_faq(data.get("faq") or [], where), origin=where,
    )
    if not doc.body_md.strip() and not doc.summary:
        raise InputError(f"{where}: the article has neither a body nor a summary")
    return doc


def load_markdown_file(path: Path) -> ArticleDoc:
    where = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(f"{where}: file is larger than {MAX_FILE_BYTES // 1000} kB")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{where}: not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"{where}: cannot read: {exc.strerror}") from None
    return parse_article(text, where, path.stem)
