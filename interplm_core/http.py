"""One polite HTTP client for every remote data source, with the persistent cache in front.

- A `requests.Session` per settings: a descriptive User-Agent (UniProt and EBI ask for
  one), a timeout on every request, and bounded retries with exponential backoff on
  429/5xx and connection failures (urllib3 `Retry` through an `HTTPAdapter`).
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
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import IncompleteRead, ProtocolError
from urllib3.exceptions import ReadTimeoutError as _ReadTimeout
from urllib3.util.retry import Retry

from . import __version__
from .disk_cache import CachedResponse, get_response_cache
from .errors import OFFLINE_WAYS, NetworkError, OfflineError
from .settings import Settings, get_settings

#: Names the tool and what it runs on; set INTERPLM_CONTACT to add an address services can reach.
USER_AGENT = (
    f"InterPLM-Explorer/{__version__} (protein feature explorer on ESM-2 + InterPLM SAEs"
    + (f"; {os.environ['INTERPLM_CONTACT']}" if os.environ.get("INTERPLM_CONTACT") else "")
    + ")"
)

#: Status codes worth retrying: rate limiting and server-side trouble.
RETRY_STATUSES = (429, 500, 502, 503, 504)
#: Statuses whose bodies are kept in the cache (a 303 keeps its Location header).
CACHEABLE_STATUSES = frozenset({200, 303})
#: urllib3 errors for a body that ends before its Content-Length.
_ProtocolErrors = (ProtocolError, IncompleteRead)
#: Set by the loopback mirror (`mirror.py`) on a 404 for something it holds no recording of.
NOT_RECORDED_HEADER = "X-Mirror-Not-Recorded"
#: Response headers worth keeping in the cache.
_KEPT_HEADERS = ("Content-Type", "Location", "ETag", "Last-Modified", NOT_RECORDED_HEADER)

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
    """A new session with retries, backoff and our User-Agent."""
    retry = Retry(
        total=settings.http_retries,
        connect=settings.http_retries,
        read=settings.http_retries,
        status=settings.http_retries,
        backoff_factor=settings.http_backoff,
        backoff_max=30.0,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "HEAD"}),
        raise_on_status=False,
        respect_retry_after_header=True,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=8)
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    # Proxies and netrc from the environment are honoured; loopback is never proxied.
    return session


def get_session(settings: Settings | None = None) -> requests.Session:
    """A shared session for these retry settings (sessions pool connections)."""
    settings = settings or get_settings()
    key = (settings.http_retries, settings.http_backoff)
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


def _timed_out(settings: Settings, what: str, url: str) -> NetworkError:
    return NetworkError(
        f"Timed out after {settings.http_timeout:g} s while fetching the {what} from {url}: {_OFFLINE_HINT}."
    )


def _download(
    url: str, settings: Settings, what: str, follow_redirects: bool, accept: str | None
) -> HttpResponse:
    session = get_session(settings)
    headers = {"Accept": accept} if accept else {}
    try:
        response = session.get(
            url,
            timeout=(settings.http_timeout, settings.http_timeout),
            allow_redirects=follow_redirects,
            headers=headers,
        )
        body = response.content
        _check_complete(response, body, what)
    except requests.exceptions.RetryError as err:
        raise NetworkError(
            f"The server for the {what} kept failing after {settings.http_retries} retries "
            f"({_reason(err)}). The service may be busy or down: {_OFFLINE_HINT}."
        ) from err
    except (requests.exceptions.Timeout, _ReadTimeout) as err:
        raise _timed_out(settings, what, url) from err
    except requests.exceptions.ConnectionError as err:
        if _is_timeout(err):  # urllib3 reports read timeouts after retries as connection errors
            raise _timed_out(settings, what, url) from err
        raise NetworkError(
            f"Could not connect to fetch the {what} from {url} ({_reason(err)}): {_OFFLINE_HINT}."
        ) from err
    except (requests.exceptions.ChunkedEncodingError, *_ProtocolErrors) as err:
        raise NetworkError(
            f"The download of the {what} from {url} was cut off ({_reason(err)}); nothing was "
            f"saved: {_OFFLINE_HINT}."
        ) from err
    except requests.exceptions.RequestException as err:
        raise NetworkError(f"Fetching the {what} from {url} failed ({_reason(err)}): {_OFFLINE_HINT}.") from err
    status = response.status_code
    kept = {name: response.headers[name] for name in _KEPT_HEADERS if name in response.headers}
    if status in RETRY_STATUSES:
        raise NetworkError(
            f"The server for the {what} answered HTTP {status} even after "
            f"{settings.http_retries} retries. The service may be busy or down: {_OFFLINE_HINT}."
        )
    return HttpResponse(response.url, status, body, kept)


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


