"""An atlas corpus fetched from a UniProt search: sequences and annotations in one query.

UniProt's REST search answers JSON entries a page at a time and names the next page in a
`Link: <...>; rel="next"` header (a cursor). Every page goes through `http.get` (retries,
User-Agent, the response cache) and is also saved in the atlas folder as soon as it
arrives, with the address of the page after it, so a cut connection loses nothing: the
same command resumes at the first missing page. Once complete the folder holds

    OUT/uniprot/query.json     the query, limit, date, entry count (provenance)
    OUT/uniprot/pages/NNNNNN.json   the pages as received (until the corpus is written)
    OUT/uniprot/corpus.fasta   `>sp|ACC|ENTRY_NAME name` records: the atlas corpus
    OUT/uniprot/entries.json   the entries as a search answer: the concept annotations
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from requests.utils import parse_header_links

from ..errors import InputError, NetworkError
from ..http import get
from ..settings import Settings, get_settings
from ..uniprot import protein_name
from .layout import UNIPROT_FOLDER

#: UniProt serves at most 500 entries per page.
PAGE_SIZE = 500


@dataclass(frozen=True)
class UniProtCorpus:
    fasta: Path
    entries: Path
    proteins: int
    pages_fetched: int  # now (0 when everything was already in the folder)


def corpus_folder(out: Path) -> Path:
    return Path(out) / UNIPROT_FOLDER


def fetch_corpus(query: str, limit: int | None, out: Path, settings: Settings | None = None,
                 progress: bool = True, page_size: int = PAGE_SIZE) -> UniProtCorpus:
    """Fetch (or finish fetching) the entries of `query` into OUT/uniprot/; at most `limit` entries."""
    settings = settings or get_settings()
    query = (query or "").strip()
    if not query:
        raise InputError("--uniprot-query is empty: write a UniProt query such as 'reviewed:true AND organism_id:9606'.")
    if limit is not None and limit < 1:
        raise InputError("--limit must be at least 1.")
    folder = corpus_folder(out)
    info_path, pages_dir = folder / "query.json", folder / "pages"
    wanted = {"query": query, "limit": limit}
    info = json.loads(info_path.read_text()) if info_path.is_file() else None
    if info is not None and {k: info.get(k) for k in wanted} != wanted:
        raise InputError(
            f"{folder} holds a corpus of another query ({info.get('query')!r}, limit {info.get('limit')}): "
            "use another --out, or --overwrite to start again."
        )
    fasta, entries_path = folder / "corpus.fasta", folder / "entries.json"
    if info is not None and info.get("complete") and fasta.is_file() and entries_path.is_file():
        return UniProtCorpus(fasta, entries_path, int(info["proteins"]), 0)
    pages_dir.mkdir(parents=True, exist_ok=True)
    if info is None:
        info = {**wanted, "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "source": settings.uniprot_url, "complete": False}
        _write_json(info_path, info)

    pages = sorted(pages_dir.glob("*.json"))
    saved = [json.loads(p.read_text()) for p in pages]
    entries = [e for page in saved for e in page["results"]]
    next_url = saved[-1]["next"] if saved else _first_page_url(settings, query, limit, page_size)
    bar = _bar(progress, limit, entries)
    fetched = 0
    try:
        while next_url and (limit is None or len(entries) < limit):
            number = len(saved) + fetched + 1
            response = get(next_url, settings, what=f"UniProt search page {number}", accept="application/json")
            if response.status == 400:
                raise InputError(f"UniProt rejected the query {query!r}: {_messages(response)}")
            if response.status != 200:
                raise NetworkError(f"UniProt search answered HTTP {response.status} for page {number}. Try again later.")
            results = [e for e in response.json().get("results") or [] if (e.get("sequence") or {}).get("value")]
            next_url = _next_link(response.headers.get("Link", ""))
            if bar is not None and response.headers.get("X-Total-Results", "").isdigit():
                total = int(response.headers["X-Total-Results"])
                bar.total = min(total, limit) if limit else total
            _write_json(pages_dir / f"{number:06d}.json", {"results": results, "next": next_url})
            entries += results
            fetched += 1
            if bar is not None:
                bar.update(len(results))
                bar.set_description(f"UniProt search, page {number}")
    except NetworkError as err:
        raise NetworkError(
            f"{err} {len(entries):,} entries are saved in {pages_dir}: run the same command again to resume."
        ) from None
    finally:
        if bar is not None:
            bar.close()
    entries = entries[:limit] if limit is not None else entries
    if not entries:
        raise InputError(f"UniProt found no entry with a sequence for {query!r}.")
    _write_corpus(fasta, entries_path, entries)
    _write_json(info_path, {**info, "complete": True, "proteins": len(entries)})
    for page in pages_dir.glob("*.json"):
        page.unlink()
    pages_dir.rmdir()
    return UniProtCorpus(fasta, entries_path, len(entries), fetched)


def _first_page_url(settings: Settings, query: str, limit: int | None, page_size: int) -> str:
    size = min(page_size, limit) if limit else page_size
    return f"{settings.uniprot_url}/uniprotkb/search?" + urlencode({"query": query, "format": "json", "size": size})


def _next_link(header: str) -> str | None:
    for link in parse_header_links(header) if header else []:
        if link.get("rel") == "next" and link.get("url"):
            return link["url"]
    return None


def _messages(response) -> str:
    try:
        return "; ".join(map(str, response.json().get("messages") or [])) or f"HTTP {response.status}"
    except ValueError:
        return f"HTTP {response.status}"


def _write_json(path: Path, data) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data))
    os.replace(temporary, path)


def _write_corpus(fasta: Path, entries_path: Path, entries: list[dict]) -> None:
    lines = []
    for entry in entries:
        prefix = "tr" if "unreviewed" in str(entry.get("entryType", "")).lower() else "sp"
        name = protein_name(entry.get("proteinDescription") or {})
        header = f">{prefix}|{entry['primaryAccession']}|{entry.get('uniProtkbId', '')} {name}".rstrip()
        sequence = entry["sequence"]["value"]
        lines += [" ".join(header.split()), *(sequence[i:i + 60] for i in range(0, len(sequence), 60))]
    temporary = fasta.with_suffix(".tmp")
    temporary.write_text("\n".join(lines) + "\n")
    os.replace(temporary, fasta)
    _write_json(entries_path, {"results": entries})


def _bar(progress: bool, limit: int | None, entries: list):
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=limit, initial=len(entries), unit="protein", desc="UniProt search")
