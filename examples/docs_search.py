"""Documentation search for the example bridge: the markdown pages under ``docs/``.

The pages are indexed once, at import; a search ranks pages by how often the query's words occur
(a word in the title counts three more) and returns the best line of each as a snippet.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from bridge import tool

_DOCS = Path(__file__).with_name("docs")
_WORD = re.compile(r"[a-z0-9]+")
_SNIPPET = 240


@dataclass(frozen=True)
class _Page:
    path: str
    title: str
    text: str
    words: Counter[str]
    title_words: frozenset[str]


class DocHit(BaseModel):
    path: str = Field(description="Pass this to read_doc for the whole page")
    title: str
    score: float
    snippet: str


class DocInfo(BaseModel):
    path: str
    title: str


def _words(text: str) -> list[str]:
    return [_stem(word) for word in _WORD.findall(text.lower())]


def _stem(word: str) -> str:
    # Plurals match their singular ("migrations" finds "migration"); good enough for a handbook.
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _index() -> dict[str, _Page]:
    pages: dict[str, _Page] = {}
    for file in sorted(_DOCS.glob("*.md")):
        text = file.read_text(encoding="utf-8")
        title = next((ln[2:].strip() for ln in text.splitlines() if ln.startswith("# ")), file.stem)
        pages[file.name] = _Page(
            file.name, title, text, Counter(_words(text)), frozenset(_words(title))
        )
    return pages


_PAGES = _index()


def _snippet(page: _Page, terms: set[str]) -> str:
    lines = [ln.strip() for ln in page.text.splitlines() if ln.strip() and not ln.startswith("#")]
    best = max(lines, key=lambda ln: len(terms & set(_words(ln))), default="")
    return best if len(best) <= _SNIPPET else best[: _SNIPPET - 1] + "…"


@tool(read_only=True)
async def search_docs(query: str, limit: Annotated[int, Field(ge=1, le=20)] = 5) -> list[DocHit]:
    """Search the internal documentation (deploys, on-call, expenses, onboarding, API rules).

    Returns the best-matching pages with a snippet; read a whole page with read_doc.
    """
    terms = {w for w in _words(query) if len(w) > 1}
    if not terms:
        raise ToolError("the query needs at least one word of two or more letters")
    hits = []
    for page in _PAGES.values():
        score = sum(page.words[t] + 3 * (t in page.title_words) for t in terms)
        if score:
            hits.append(DocHit(path=page.path, title=page.title, score=score, snippet=""))
    hits.sort(key=lambda hit: (-hit.score, hit.path))
    return [
        hit.model_copy(update={"snippet": _snippet(_PAGES[hit.path], terms)})
        for hit in hits[:limit]
    ]


@tool(read_only=True)
def read_doc(path: str) -> str:
    """Return the full markdown of one documentation page, by the path search_docs gave."""
    page = _PAGES.get(Path(path).name)
    if page is None or Path(path).name != path:
        raise ToolError(f"no page {path!r}; known pages: {', '.join(sorted(_PAGES))}")
    return page.text


@tool(read_only=True)
def list_docs() -> list[DocInfo]:
    """List every documentation page with its title."""
    return [DocInfo(path=page.path, title=page.title) for page in _PAGES.values()]
