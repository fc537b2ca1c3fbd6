"""One polite HTTP client for every remote data source, with the persistent cache in front.

- A `requests.Session` per settings: a descriptive User-Agent (UniProt and EBI ask for
  one), and bounded retries with exponential backoff (or the server's `Retry-After`) on
  429/5xx and failed connections, all inside one deadline per request
  (`INTERPLM_HTTP_TIMEOUT`).
- Files too large to hold in memory (model weights) stream to disk with
  `download_to_file`: a cut transfer resumes with `Range` when the server allows it,
  else restarts, a bounded number of times.
- Every successful body is stored in `disk_cache` and served from there next time, so a
  talk or a demo keeps working with the network gone; in offline mode
  (`INTERPLM_OFFLINE=1`) only the cache is used.
- Failures become `NetworkError` / `OfflineError` with a message that says what to do.
  Status codes such as 404 are returned to the caller, which knows what they mean.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import IncompleteRead, InvalidHeader, ProtocolError
from urllib3.exceptions import ReadTimeoutError as _ReadTimeout
from urllib3.util.retry import Retry

from . import __version__
from .disk_cache import CachedResponse, get_response_cache
from .errors import OFFLINE_WAYS, NetworkError, NotFoundError, OfflineError
from .settings import Settings, get_settings

#: Names the tool and what it runs on (UniProt and EBI ask for this).
USER_AGENT = f"InterPLM-Explorer/{__version__} (protein feature explorer on ESM-2 + InterPLM SAEs)"


def user_agent(settings: Settings) -> str:
    """USER_AGENT, plus the contact address of `INTERPLM_CONTACT` when one is set."""
    return f"{USER_AGENT[:-1]}; {settings.contact})" if settings.contact else USER_AGENT

#: Status codes worth retrying: rate limiting and server-side trouble.
RETRY_STATUSES = (429, 500, 502, 503, 504)
#: Statuses whose bodies are kept in the cache (a 303 keeps its Location header).
CACHEABLE_STATUSES = frozenset({200, 303})
#: urllib3 errors for a body that ends before its Content-Length.
_ProtocolErrors = (ProtocolError, IncompleteRead)
#: Set by the loopback mirror (`mirror.py`) on a 404 for something it holds no recording of.
NOT_RECORDED_HEADER = "X-Mirror-Not-Recorded"
#: Response headers worth keeping in the cache (Link and X-Total-Results page UniProt searches).
_KEPT_HEADERS = ("Content-Type", "Location", "ETag", "Last-Modified", NOT_RECORDED_HEADER, "Link", "X-Total-Results")

_OFFLINE_HINT = (
    "retry in a moment, check your internet connection, or work offline "
    "(INTERPLM_OFFLINE=1) after warming the cache with `python -m interplm_core prefetch ACCESSION`. "
    + OFFLINE_WAYS
)


@dataclass(frozen=True)
class HttpResponse(CachedResponse):
    """A fully read response (what the cache keeps) and whether it came from the cache."""

    from_cache: bool = False

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


def mirror_not_recorded(response: HttpResponse) -> str | None:
    """The mirror's own words when it lacks a recording, else None.

    A 404 from the offline mirror means "not recorded here", not "the service has no such
    entry"; clients show this instead of their usual not-found message.
    """
    if response.status != 404 or NOT_RECORDED_HEADER not in response.headers:
        return None
    try:
        messages = response.json().get("messages") or []
    except (ValueError, AttributeError):
        messages = []
    detail = "; ".join(map(str, messages)) or f"{response.url} is not recorded in this mirror"
    return (
        f"{detail}. The offline demo mirror serves only its bundled recordings; pick one of "
        "those, or unset the INTERPLM_*_URL variables to use the real service."
    )


_sessions: dict[tuple, requests.Session] = {}
_sessions_lock = threading.Lock()


def make_session(settings: Settings) -> requests.Session:
    """A new session with our User-Agent and connection pooling.

    Retries are ours (`_download`), not urllib3's: its `Retry` sleeps for any `Retry-After`
    and restarts its timeouts on each attempt, so one request could wait far longer than
    `INTERPLM_HTTP_TIMEOUT`.
    """
    adapter = HTTPAdapter(max_retries=0, pool_maxsize=8)
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = user_agent(settings)
    # Proxies and netrc from the environment are honoured; loopback is never proxied.
    return session


def get_session(settings: Settings | None = None) -> requests.Session:
    """A shared session per User-Agent (sessions pool connections)."""
    settings = settings or get_settings()
    key = (user_agent(settings),)
    with _sessions_lock:
        if key not in _sessions:
            _sessions[key] = make_session(settings)
        return _sessions[key]


def cache_key(url: str, follow_redirects: bool = True) -> str:
    return url if follow_redirects else f"noredirect:{url}"


def get(
    url: str,
    settings: Settings | None = None,
    *,
    what: str | None = None,
    follow_redirects: bool = True,
    accept: str | None = None,
) -> HttpResponse:
    """GET `url` through the cache. `what` names the thing for messages ("UniProt entry P69905").

    Raises OfflineError (offline, not cached) or NetworkError (unreachable, timed out,
    cut, or still failing after retries). Other statuses are returned as they are.
    The whole wait, retries and `Retry-After` pauses included, stays within
    `settings.http_timeout`.
    """
    settings = settings or get_settings()
    what = what or url
    key = cache_key(url, follow_redirects)
    cache = get_response_cache(settings)
    hit = cache.get(key)
    if hit is not None:
        return HttpResponse(hit.url, hit.status, hit.body, hit.headers, from_cache=True)
    if settings.offline:
        raise OfflineError(
            f"Offline mode is on and the {what} is not in the local cache "
            f"({settings.cache_dir / 'http'}). Turn offline mode off (unset INTERPLM_OFFLINE) "
            "while connected, or warm the cache beforehand with "
            "`python -m interplm_core prefetch ACCESSION`."
        )
    response = _download(url, settings, what, follow_redirects, accept)
    if response.status in CACHEABLE_STATUSES:
        cache.put(key, response)
    return response


class _Deadline:
    """The one time budget of a request: every wait (connect, read, pause) takes from it."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.start = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def remaining(self) -> float:
        return self.seconds - self.elapsed()


def _timed_out(settings: Settings, what: str, url: str, deadline: _Deadline, detail: str = "") -> NetworkError:
    return NetworkError(
        f"Timed out after {deadline.elapsed():.1f} s (limit {settings.http_timeout:g} s, "
        f"INTERPLM_HTTP_TIMEOUT) while fetching the {what} from {url}{detail}: {_OFFLINE_HINT}."
    )


def _download(
    url: str, settings: Settings, what: str, follow_redirects: bool, accept: str | None
) -> HttpResponse:
    """One request, retried on 429/5xx and failed connections, all within one deadline."""
    deadline = _Deadline(settings.http_timeout)
    session = get_session(settings)
    headers = {"Accept": accept} if accept else {}
    attempt = 0
    while True:
        pause: float | None = None
        try:
            with session.get(
                url,
                timeout=_wait_limits(deadline),
                allow_redirects=follow_redirects,
                headers=headers,
                stream=True,
            ) as response:
                status = response.status_code
                if status in RETRY_STATUSES and attempt < settings.http_retries:
                    pause = _retry_pause(response, settings, attempt)
                else:
                    body = _read_body(response, deadline)
                    _check_complete(response, body, what)
        except (requests.exceptions.Timeout, _ReadTimeout, _DeadlinePassed) as err:
            raise _timed_out(settings, what, url, deadline) from err
        except requests.exceptions.ConnectionError as err:
            if _is_timeout(err):
                raise _timed_out(settings, what, url, deadline) from err
            if _is_cut(err):
                raise _cut(what, url, err) from err
            if attempt >= settings.http_retries:
                raise NetworkError(
                    f"Could not connect to fetch the {what} from {url} ({_reason(err)}): {_OFFLINE_HINT}."
                ) from err
            pause = settings.http_backoff * 2**attempt
        except (requests.exceptions.ChunkedEncodingError, *_ProtocolErrors) as err:
            raise _cut(what, url, err) from err
        except requests.exceptions.RequestException as err:
            raise NetworkError(f"Fetching the {what} from {url} failed ({_reason(err)}): {_OFFLINE_HINT}.") from err
        if pause is None:
            break
        if pause >= deadline.remaining():
            raise _timed_out(
                settings, what, url, deadline,
                f" (the server asked to wait {pause:g} s more before retry {attempt + 1})",
            )
        time.sleep(pause)
        attempt += 1
    kept = {name: response.headers[name] for name in _KEPT_HEADERS if name in response.headers}
    if status in RETRY_STATUSES:
        raise NetworkError(
            f"The server for the {what} answered HTTP {status} even after "
            f"{settings.http_retries} retries. The service may be busy or down: {_OFFLINE_HINT}."
        )
    return HttpResponse(response.url, status, body, kept)


class _DeadlinePassed(Exception):
    """The body was still arriving when the request's time budget ran out."""


def _wait_limits(deadline: _Deadline) -> tuple[float, float]:
    remaining = deadline.remaining()
    if remaining <= 0:
        raise _DeadlinePassed()
    return (remaining, remaining)


def _read_body(response: requests.Response, deadline: _Deadline) -> bytes:
    """The whole body, giving up when the deadline passes even if bytes keep trickling in."""
    raw = response.raw
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    parts: list[bytes] = []
    while True:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise _DeadlinePassed()
        if sock is not None:
            sock.settimeout(remaining)  # each wait for bytes ends at the deadline
        block = raw.read1(1 << 16)
        if not block:
            return b"".join(parts)
        parts.append(block)


def _retry_pause(response: requests.Response, settings: Settings, attempt: int) -> float:
    """Seconds to wait before the next try: the server's Retry-After, else exponential backoff."""
    header = response.headers.get("Retry-After")
    if header:
        try:
            return max(0.0, float(Retry(0).parse_retry_after(header)))
        except InvalidHeader:  # the server's mistake: fall back to our own backoff
            return settings.http_backoff * 2**attempt
    return settings.http_backoff * 2**attempt


def _is_cut(err: BaseException) -> bool:
    inner = err.args[0] if err.args else None
    return isinstance(inner, _ProtocolErrors) or isinstance(getattr(inner, "reason", None), _ProtocolErrors)


def _cut(what: str, url: str, err: BaseException) -> NetworkError:
    return NetworkError(
        f"The download of the {what} from {url} was cut off ({_reason(err)}); nothing was "
        f"saved: {_OFFLINE_HINT}."
    )


def _check_complete(response: requests.Response, body: bytes, what: str) -> None:
    """A body shorter than its Content-Length was cut: never pass it on (or cache it)."""
    declared = response.headers.get("Content-Length")
    if declared is None or response.headers.get("Content-Encoding", "identity") != "identity":
        return  # compressed bodies are checked by urllib3 against the wire length
    if declared.isdigit() and len(body) != int(declared):
        raise NetworkError(
            f"The download of the {what} from {response.url} was cut off "
            f"({len(body):,} of {int(declared):,} bytes); nothing was saved: {_OFFLINE_HINT}."
        )


def _is_timeout(err: BaseException) -> bool:
    inner = err.args[0] if err.args else None
    return isinstance(inner, _ReadTimeout) or isinstance(getattr(inner, "reason", None), _ReadTimeout)


def _reason(err: BaseException) -> str:
    inner = err.args[0] if err.args else err
    reason = getattr(inner, "reason", None)
    text = str(reason or inner)
    return text if len(text) < 200 else text[:200] + "..."




def download_to_file(url: str, dest: Path, settings: Settings | None = None, *, what: str | None = None,
                     progress: bool = False) -> Path:
    """Stream `url` to `dest` through `dest.part`, resuming or restarting after a cut.

    Memory stays constant (1 MB blocks). After a cut the next attempt asks for the rest
    with `Range`; a server answering 206 continues the file, one answering 200 sends it
    whole and the file restarts. At most `http_retries + 1` attempts; here
    `INTERPLM_HTTP_TIMEOUT` bounds each wait for data (a stall), not the whole transfer of
    a multi-GB file, and a server silent from the start is not retried. `dest` appears
    only complete; leftover partial files go on success. A 404 raises NotFoundError.
    When every attempt fails, the `.part` is kept only if the server takes `Range`
    requests (the next run continues it), else removed.
    """
    from tqdm.auto import tqdm

    settings = settings or get_settings()
    what = what or dest.name
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    session = get_session(settings)
    resumable = False
    problem = "no attempt was made"
    for attempt in range(settings.http_retries + 1):
        if attempt:
            time.sleep(settings.http_backoff * 2 ** (attempt - 1))
        have = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={have}-", "Accept-Encoding": "identity"} if have else {"Accept-Encoding": "identity"}
        try:
            with session.get(url, stream=True, timeout=(settings.http_timeout, settings.http_timeout),
                             headers=headers) as response:
                resumable = resumable or response.headers.get("Accept-Ranges", "").lower() == "bytes"
                total = _expected_total(response, have)
                if response.status_code == 206 and have:
                    resumable, mode = True, "ab"
                elif response.status_code == 200:
                    have, mode = 0, "wb"  # the server sends it whole: start again
                elif response.status_code == 416 and have:
                    part.unlink()  # our partial file does not fit the server's: start again
                    problem = "the server refused to continue the partial file"
                    continue
                else:
                    part.unlink(missing_ok=True)
                    kind = NotFoundError if response.status_code == 404 else NetworkError
                    raise kind(f"Downloading the {what} from {url} failed: HTTP {response.status_code}.")
                with open(part, mode) as out, tqdm(total=total, initial=have, unit="B", unit_scale=True,
                                                   desc=dest.name, disable=not progress) as bar:
                    for block in response.iter_content(chunk_size=1 << 20):
                        out.write(block)
                        bar.update(len(block))
        except requests.exceptions.Timeout as err:
            problem = f"no data for {settings.http_timeout:g} s ({_reason(err)})"
            if not part.exists():  # silent from the start: retrying would only multiply the wait
                raise NetworkError(
                    f"The server for the {what} did not answer within {settings.http_timeout:g} s ({url})."
                ) from err
            continue
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError,
                *_ProtocolErrors) as err:
            problem = f"cut off ({_reason(err)})"
            continue
        except OSError as err:
            part.unlink(missing_ok=True)
            raise NetworkError(f"Could not save the {what} to {part} ({err}).") from err
        size = part.stat().st_size
        if total is not None and size != total:
            problem = f"cut at {size:,} of {total:,} bytes"
            continue
        os.replace(part, dest)
        _remove_leftovers(dest)
        return dest
    kept = part.exists() and resumable
    if part.exists() and not kept:
        part.unlink()
    raise NetworkError(
        f"The download of the {what} from {url} failed after {settings.http_retries + 1} attempts "
        f"(last: {problem}); "
        + (f"the part received is kept in {part} and the next attempt continues it." if kept
           else "nothing was saved.")
    )


def _expected_total(response: requests.Response, have: int) -> int | None:
    """The full file size the server announces (Content-Range on a 206, else Content-Length)."""
    content_range = response.headers.get("Content-Range", "")
    if response.status_code == 206 and "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        return int(total) if total.isdigit() else None
    length = response.headers.get("Content-Length", "")
    if not length.isdigit():
        return None
    return int(length) + (have if response.status_code == 206 else 0)


def _remove_leftovers(dest: Path) -> None:
    """Partial files of earlier, abandoned downloads of `dest` (ours, and older temp names)."""
    for leftover in (*dest.parent.glob(f".{dest.name}.*.part"), *dest.parent.glob(f"{dest.name}*.incomplete")):
        leftover.unlink(missing_ok=True)
