"""HTTP access to the NEON Data Portal API (v0): session, token, retries and rate limits.

The API is documented at https://data.neonscience.org/data-api/ (endpoints ``products/{dpid}``
and ``data/{dpid}/{site}/{YYYY-MM}``; what aopflow reads of them is in :mod:`aopflow.neon.listing`).

- timeouts, dropped connections and 5xx are retried with exponential backoff;
- ``x-ratelimit-remaining`` / ``x-ratelimit-reset`` and HTTP 429 are honoured;
- the API token is sent only to the API host (never to storage hosts a redirect points at) and
  is never logged; an empty ``NEON_API_TOKEN`` is an error instead of silently failing every
  request (NEON-Data-Skills issue #613).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests

from aopflow.errors import ConfigError, DownloadError

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://data.neonscience.org/api/v0/"
TOKEN_ENV = "NEON_API_TOKEN"
TOKEN_HEADER = "X-API-TOKEN"

_MAX_BACKOFF_S = 60.0
#: HTTP statuses worth another try.
RETRY_STATUS = frozenset({500, 502, 503, 504})
#: Worth another try: no answer, a timeout, or a body cut off mid-way.
NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


def strip_query(url: str) -> str:
    """``url`` without query and fragment (signed-URL signatures are short-lived secrets)."""
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, p.path, "", ""))


def redact(text: str) -> str:
    """Remove URL queries (signatures) from an exception text before it reaches logs/errors."""
    return re.sub(r"\?[^\s'\")]*", "?<query removed>", text)


def describe(exc: BaseException) -> str:
    """``"ExcType: message"`` of a network error, URL queries removed."""
    return redact(f"{type(exc).__name__}: {exc}")


def token_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The API token from ``NEON_API_TOKEN``; ``None`` when unset (anonymous, public rate limit).

    Raises ConfigError when the variable is set but empty or blank: NEON then rejects every
    request (NEON-Data-Skills issue #613), so fail before any download.
    """
    environ = os.environ if environ is None else environ
    value = environ.get(TOKEN_ENV)
    if value is None:
        return None
    if not value.strip():
        raise ConfigError(_empty_token_message())
    return value.strip()


def _empty_token_message() -> str:
    return (
        f"The environment variable {TOKEN_ENV} is set but empty. Either unset it "
        f"(`unset {TOKEN_ENV}`, anonymous requests at the public rate limit) or set it to a "
        f"real NEON API token (https://data.neonscience.org/data-api/rate-limiting/)."
    )


class _TokenSafeSession(requests.Session):
    """A Session that drops the API token header when a redirect leaves the original host.

    requests strips ``Authorization`` on such redirects but keeps custom headers, which would
    hand the NEON token to a storage host.
    """

    def rebuild_auth(self, prepared_request, response):  # requests API
        super().rebuild_auth(prepared_request, response)
        if self.should_strip_auth(response.request.url, prepared_request.url):
            prepared_request.headers.pop(TOKEN_HEADER, None)


class NeonApiError(DownloadError):
    """The API answered with an error status or an ``errors`` body (``status``, ``messages``)."""

    def __init__(self, message: str, status: int, messages: list[str]) -> None:
        super().__init__(message)
        self.status = status
        self.messages = messages


class NeonClient:
    """HTTP access to the NEON Data API and its file URLs, with retries and rate limiting.

    Parameters
    ----------
    api_url:
        API base URL (ends with ``/api/v0/``).
    token:
        NEON API token (see :func:`token_from_env`) or ``None`` for anonymous requests. Sent as
        header ``X-API-TOKEN`` only to URLs on the API host; never logged.
    timeout:
        ``(connect, read)`` seconds; the read timeout bounds the wait for each chunk.
    max_retries:
        Retries after the first attempt for timeouts, dropped connections, 5xx, 429 and
        checksum mismatches.
    backoff:
        First retry delay in seconds; doubles each retry (capped at 60 s).
    sleep:
        ``sleep(seconds)``; injectable so tests run without waiting.

    Not thread-safe: use one client per thread/process.
    """

    def __init__(
        self,
        api_url: str = DEFAULT_API_URL,
        token: str | None = None,
        timeout: float | tuple[float, float] = (10, 120),
        max_retries: int = 5,
        backoff: float = 1.0,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        if token is not None and not token.strip():
            raise ConfigError(_empty_token_message())
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.api_url = api_url if api_url.endswith("/") else api_url + "/"
        self._token = token.strip() if token else None
        self._api_origin = urlsplit(self.api_url)[:2]
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.sleep = sleep
        self._wait_s = 0.0  # rate-limit wait owed before the next request
        self._warned_token = False
        self.session = _TokenSafeSession()
        self.session.headers.update(
            {
                "Accept": "application/json",
                "User-Agent": f"aopflow/{_version()} python-requests/{requests.__version__}",
            }
        )

    @classmethod
    def from_env(
        cls, api_url: str = DEFAULT_API_URL, environ: Mapping[str, str] | None = None, **kwargs
    ) -> NeonClient:
        """A client whose token comes from ``NEON_API_TOKEN`` (see :func:`token_from_env`)."""
        return cls(api_url=api_url, token=token_from_env(environ), **kwargs)

    @property
    def has_token(self) -> bool:
        return self._token is not None

    def __repr__(self) -> str:  # never show the token
        return (
            f"NeonClient(api_url={self.api_url!r}, token={'<set>' if self._token else None}, "
            f"max_retries={self.max_retries})"
        )

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> NeonClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ helpers
    def url_for(self, path_or_url: str) -> str:
        """Absolute URL: API-relative paths (``products/DP3.30006.002``) are joined to api_url."""
        if urlsplit(path_or_url).scheme:
            return path_or_url
        return urljoin(self.api_url, path_or_url.lstrip("/"))

    def backoff_delay(self, retry: int) -> float:
        """Delay before retry number ``retry`` (1-based): backoff * 2**(retry-1), <= 60 s."""
        return min(self.backoff * 2 ** (retry - 1), _MAX_BACKOFF_S)

    def _headers(self, url: str, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if self._token and urlsplit(url)[:2] == self._api_origin:
            headers[TOKEN_HEADER] = self._token
        return headers

    def _note_rate_limit(self, resp: requests.Response) -> float | None:
        """Parse ``x-ratelimit-*``; remember the wait owed when none is left; return reset (s)."""
        h = resp.headers
        reset = _to_float(h.get("x-ratelimit-reset"))
        remaining = _to_float(h.get("x-ratelimit-remaining"))
        if (
            self._token
            and not self._warned_token
            and h.get("x-ratelimit-limit") == "200"
            and urlsplit(resp.url)[:2] == self._api_origin
        ):
            # NEON answers with the public limit (200) when it does not recognise the token.
            log.warning(
                "NEON did not recognise the API token in %s (public rate limit applies); "
                "check that it is current",
                TOKEN_ENV,
            )
            self._warned_token = True
        if remaining is not None and remaining < 1 and resp.status_code != 429:
            self._wait_s = max(self._wait_s, reset if reset is not None else self.backoff)
        return reset

    # ------------------------------------------------------------------ requests
    def request(
        self, url: str, *, headers: Mapping[str, str] | None = None, stream: bool = False
    ) -> requests.Response:
        """One GET of ``url`` (absolute or API-relative) honouring the rate limit.

        Waits ``x-ratelimit-reset`` seconds before this request when the previous response
        reported ``x-ratelimit-remaining < 1``; on HTTP 429 sleeps ``x-ratelimit-reset`` (or the
        backoff delay when absent) and repeats, at most ``max_retries`` times. Network errors
        (``requests.RequestException``) propagate: callers decide about retries.
        """
        url = self.url_for(url)
        for attempt in range(self.max_retries + 1):
            if self._wait_s > 0:
                wait, self._wait_s = self._wait_s, 0.0
                log.info("NEON rate limit exhausted: waiting %.0f s before the next request", wait)
                self.sleep(wait)
            resp = self.session.get(
                url, headers=self._headers(url, headers), stream=stream, timeout=self.timeout
            )
            reset = self._note_rate_limit(resp)
            if resp.status_code != 429:
                return resp
            resp.close()
            if attempt == self.max_retries:
                break
            if reset is None:  # no NEON header: a proxy or storage host may send Retry-After
                reset = _to_float(resp.headers.get("Retry-After"))
            wait = reset if reset is not None else self.backoff_delay(attempt + 1)
            log.warning(
                "NEON rate limit hit (HTTP 429) for %s: waiting %.0f s (x-ratelimit-reset)",
                strip_query(url),
                wait,
            )
            self.sleep(wait)
        raise DownloadError(
            f"NEON kept answering HTTP 429 (rate limit) for {strip_query(url)} after "
            f"{self.max_retries} waits. Set {TOKEN_ENV} to a NEON API token for a higher limit, "
            f"or try again later."
        )

    def get_json(self, path_or_url: str) -> dict:
        """GET a JSON API document, retrying timeouts, dropped connections and 5xx.

        Returns the decoded body. Raises :class:`NeonApiError` (a DownloadError) on a non-200
        status or a body with a non-empty ``errors`` list, DownloadError when retries run out
        or the token is refused (401).
        """
        url = self.url_for(path_or_url)
        shown = strip_query(url)
        cause = "no attempt made"
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.sleep(self.backoff_delay(attempt))
            try:
                resp = self.request(url)
            except NETWORK_ERRORS as exc:
                cause = describe(exc)
                log.warning(
                    "NEON API request %s failed (%s); attempt %d of %d",
                    shown,
                    cause,
                    attempt + 1,
                    self.max_retries + 1,
                )
                continue
            with resp:
                if resp.status_code in RETRY_STATUS:
                    cause = f"HTTP {resp.status_code}"
                    log.warning(
                        "NEON API %s answered %s; attempt %d of %d",
                        shown,
                        cause,
                        attempt + 1,
                        self.max_retries + 1,
                    )
                    continue
                if resp.status_code == 401:
                    raise DownloadError(unauthorised_message(shown, self.has_token))
                try:
                    body = resp.json()
                except ValueError:
                    body = None
                # Current API: {"errors": [...]}; older answers: {"error": {"status": ...}}.
                errors = (
                    (body.get("errors") or body.get("error")) if isinstance(body, dict) else None
                )
                if resp.status_code != 200 or errors or not isinstance(body, dict):
                    messages = _error_messages(errors) or [f"HTTP {resp.status_code}"]
                    raise NeonApiError(
                        f"NEON API request {shown} failed: HTTP {resp.status_code}: "
                        f"{'; '.join(messages)}",
                        resp.status_code,
                        messages,
                    )
                return body
        raise DownloadError(
            f"NEON API request {shown} failed after {self.max_retries + 1} "
            f"attempts; last cause: {cause}. Check the network or "
            f"https://www.neonscience.org/data-notifications and retry."
        )



def unauthorised_message(url: str, has_token: bool) -> str:
    if has_token:
        return (
            f"NEON refused the API token for {url} (HTTP 401). Renew the token in your NEON "
            f"user account and put it in {TOKEN_ENV}."
        )
    return (
        f"NEON requires an API token for {url} (HTTP 401). Create one in your NEON user "
        f"account and set the environment variable {TOKEN_ENV}."
    )


def _error_messages(errors: Any) -> list[str]:
    if not errors:
        return []
    if not isinstance(errors, list):
        errors = [errors]
    out = []
    for e in errors:
        if isinstance(e, dict):
            out.append(str(e.get("errorMessage") or e.get("message") or e.get("detail") or e))
        else:
            out.append(str(e))
    return out


def _to_float(v: str | None) -> float | None:
    try:
        return float(v) if v is not None else None
    except ValueError:
        return None


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("aopflow")
    except Exception:  # noqa: BLE001 (metadata missing in odd installs: cosmetic only)
        return "0"

