"""NEON Data Portal API: list the AOP tiles of a site-year and download them robustly.

The API (v0, ``https://data.neonscience.org/api/v0/``) is described in
``/work/shared/NEON_FORMAT.md`` section 2. Two calls matter:

- ``GET products/{dpid}`` -> ``data.siteCodes[]`` with ``siteCode`` and ``availableDataUrls``
  (one URL per site-month);
- ``GET data/{dpid}/{site}/{YYYY-MM}`` -> ``data.release`` and ``data.files[]`` with ``name``,
  ``size`` (bytes), ``crc32c`` (8 hex digits, Castagnoli) and a signed ``url`` that expires after
  about a week.

What this module does that the reference clients (neonutilities for Python and R) do not:

- every download checks the HTTP status, the byte count and the CRC-32C, and is written to
  ``<name>.part`` and renamed only when verified, so an error page or a truncated file never
  sits under the final name;
- interrupted transfers resume with ``Range: bytes=N-``; timeouts, dropped connections and 5xx
  are retried with exponential backoff; an expired signed URL (HTTP 400/403) triggers a fresh
  month listing; a 404 fails at once;
- ``x-ratelimit-remaining`` / ``x-ratelimit-reset`` and HTTP 429 are honoured;
- tile selection by bounding box or plot buffer covers every 1 km tile the extent touches (the
  Python reference tests only the four buffer corners, so buffers >= 1000 m skip interior tiles);
- the API token is sent only to the API host (never to storage hosts a redirect points at) and
  is never logged; an empty ``NEON_API_TOKEN`` is an error instead of silently failing every
  request (NEON-Data-Skills issue #613).

Typical use (one listing step, then one job per tile)::

    client = NeonClient(api_url=..., token=token_from_env())
    tiles = list_tiles(client, product="DP3.30006.002", site="DSNY", year=2023, tiles="all")
    check_size(tiles, max_download_gb=50)
    write_tile_listing(tiles, "tiles.csv")
    ...
    fetch_tile(client, tile, "raw/", product="DP3.30006.002", site="DSNY")
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import google_crc32c
import requests

from aopflow.errors import ConfigError, DownloadError, InputDataError
from aopflow.io import atomic_path

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://data.neonscience.org/api/v0/"
TOKEN_ENV = "NEON_API_TOKEN"
TOKEN_HEADER = "X-API-TOKEN"
TILE_SIZE_M = 1000
LISTING_COLUMNS = ("tile", "name", "size", "crc32c", "url", "month", "release")
PROVISIONAL = "PROVISIONAL"

# Which listed files are "the tile" of a product: reflectance mosaics are HDF5 cubes
# (``..._reflectance.h5`` and ``..._bidirectional_reflectance.h5``), the CHM a GeoTIFF.
TILE_FILE_PATTERNS: dict[str, re.Pattern[str]] = {
    "DP3.30006.001": re.compile(r"_reflectance\.h5$"),
    "DP3.30006.002": re.compile(r"_reflectance\.h5$"),
    "DP3.30015.001": re.compile(r"_CHM\.tif$"),
}
# L3 names carry the lower-left corner: NEON_DOM_SITE_DP3_EEEEEE_NNNNNNN_DESC.ext (FNC).
TILE_NAME_RE = re.compile(r"_(\d{6})_(\d{7})_")
TILE_ID_RE = re.compile(r"^(\d{6})_(\d{7})$")

_MB = 1e6
_MAX_BACKOFF_S = 60.0
_RETRY_STATUS = frozenset({500, 502, 503, 504})
# Worth another try: no answer, a timeout, or a body cut off mid-way.
_NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
_EXPIRED_STATUS = frozenset({400, 403})


# ----------------------------------------------------------------------------- data model
@dataclasses.dataclass(frozen=True)
class TileFile:
    """One tile file of a NEON AOP listing.

    ``tile`` is ``"EEEEEE_NNNNNNN"`` (lower-left corner, UTM metres); ``name`` the file name
    without the URL query; ``url`` the (signed) download URL including its query; ``size`` in
    bytes; ``crc32c`` 8 lowercase hex digits or ``None``; ``month`` ``YYYY-MM``; ``release``
    ``RELEASE-YYYY`` or ``PROVISIONAL``.
    """

    tile: str
    name: str
    url: str
    size: int
    crc32c: str | None
    month: str
    release: str

    @property
    def easting(self) -> int:
        return int(self.tile.split("_")[0])

    @property
    def northing(self) -> int:
        return int(self.tile.split("_")[1])


def strip_query(url: str) -> str:
    """``url`` without query and fragment (signed-URL signatures are short-lived secrets)."""
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, p.path, "", ""))


def local_name(url: str) -> str:
    """Local file name for a download URL: the last path segment, query stripped, unquoted."""
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])


def _redact(text: str) -> str:
    """Remove URL queries (signatures) from an exception text before it reaches logs/errors."""
    return re.sub(r"\?[^\s'\")]*", "?<query removed>", text)


def _cause(exc: BaseException) -> str:
    return _redact(f"{type(exc).__name__}: {exc}")


# ----------------------------------------------------------------------------- client
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
            except _NETWORK_ERRORS as exc:
                cause = _cause(exc)
                log.warning(
                    "NEON API request %s failed (%s); attempt %d of %d",
                    shown,
                    cause,
                    attempt + 1,
                    self.max_retries + 1,
                )
                continue
            with resp:
                if resp.status_code in _RETRY_STATUS:
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
                    raise DownloadError(_unauthorised_message(shown, self.has_token))
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


def _unauthorised_message(url: str, has_token: bool) -> str:
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


# ----------------------------------------------------------------------------- listing
def list_tiles(
    client: NeonClient,
    *,
    product: str,
    site: str,
    year: int | str,
    tiles: str | Sequence[str] | Mapping[str, Any] = "all",
    include_provisional: bool = False,
) -> list[TileFile]:
    """List the tile files of ``product`` at ``site`` in ``year``, sorted by (easting, northing).

    ``tiles`` selects which (config key ``neon.tiles``):

    - ``"all"``;
    - a list of tile ids ``"EEEEEE_NNNNNNN"`` (lower-left corner, metres);
    - ``{"bbox": [xmin, ymin, xmax, ymax]}`` (site UTM metres): every tile the box touches;
    - ``{"around_plots": {"points": [(x, y), ...], "buffer_m": b}}``: every tile the square
      ``[x-b, x+b] x [y-b, y+b]`` of any point touches (also covers square plots of half-width
      ``b``). A point whose own tile is not available is an error.

    Tiles are matched by lower-left corner ``floor(v / 1000) * 1000`` over the whole extent, so
    buffers of any size select interior tiles too. Files come from every month of ``year``
    (``availableDataUrls`` containing ``/{site}/{year}-``); a tile listed in several months is
    taken from the latest month; ``PROVISIONAL`` files are dropped unless
    ``include_provisional``.

    Raises ConfigError naming the config key (``neon.product``, ``site``, ``year``,
    ``neon.tiles``, ``neon.include_provisional``) and the valid choices.
    """
    pattern = TILE_FILE_PATTERNS.get(product)
    if pattern is None:
        raise ConfigError(
            f"Unsupported NEON product {product!r} for neon.product; "
            f"must be one of {sorted(TILE_FILE_PATTERNS)}"
        )
    try:
        year = int(year)
    except (TypeError, ValueError):
        raise ConfigError(f"year must be a 4-digit year such as 2023, got {year!r}") from None
    selector = _parse_selection(tiles)

    try:
        meta = client.get_json(f"products/{product}")
    except NeonApiError as exc:
        if exc.status in (200, 400, 404):
            raise ConfigError(
                f"NEON does not know the data product {product!r} (neon.product): "
                f"{'; '.join(exc.messages)}. Use one of {sorted(TILE_FILE_PATTERNS)}."
            ) from None
        raise
    sites = {s.get("siteCode"): s for s in meta.get("data", {}).get("siteCodes") or []}
    if site not in sites:
        raise ConfigError(
            f"Site {site!r} (config key site) has no {product} data. Sites with "
            f"{product} data: {', '.join(sorted(map(str, sites))) or 'none'}."
        )
    entry = sites[site]
    urls = entry.get("availableDataUrls") or []
    month_urls = sorted(u for u in urls if f"/{site}/{year}-" in u)
    if not month_urls:
        years = sorted(
            {m[:4] for m in entry.get("availableMonths") or []}
            | {m.group(1) for u in urls if (m := re.search(rf"/{site}/(\d{{4}})-", u))}
        )
        raise ConfigError(
            f"No {product} data for site {site} in year {year} (config key year). "
            f"Years with data at {site}: {', '.join(years) or 'none'}."
        )

    by_tile: dict[str, TileFile] = {}
    releases: set[str] = set()
    for url in month_urls:
        body = client.get_json(url)
        data = body.get("data") or {}
        month = str(data.get("month") or url.rstrip("/").rsplit("/", 1)[-1])
        release = str(data.get("release") or "")
        releases.add(release)
        if release == PROVISIONAL and not include_provisional:
            log.info(
                "Skipping %s %s %s: release PROVISIONAL (neon.include_provisional is false)",
                product,
                site,
                month,
            )
            continue
        for tf in _parse_files(data.get("files") or [], month, release, url):
            if not pattern.search(tf.name):
                continue
            prev = by_tile.get(tf.tile)
            if prev is None or tf.month > prev.month:
                by_tile[tf.tile] = tf
            elif tf.month == prev.month and tf.name != prev.name:
                raise DownloadError(
                    f"The NEON listing of {product} {site} {month} has two files "
                    f"for tile {tf.tile}: {prev.name} and {tf.name}; cannot tell "
                    f"which one is the tile. Report this to NEON."
                )
    if not by_tile:
        if releases == {PROVISIONAL} and not include_provisional:
            raise ConfigError(
                f"{product} data for site {site} in {year} are only PROVISIONAL. "
                f"Set neon.include_provisional: true to use them."
            )
        raise DownloadError(
            f"The NEON listing of {product} for {site} {year} has no tile files "
            f"matching {pattern.pattern!r} with an EEEEEE_NNNNNNN tile id."
        )
    selected = _select(selector, by_tile, product=product, site=site, year=year)
    return sorted((by_tile[t] for t in selected), key=lambda t: (t.easting, t.northing))


def _parse_files(
    files: Iterable[Mapping[str, Any]], month: str, release: str, url: str
) -> list[TileFile]:
    """TileFiles of a month listing's ``files``; entries without a tile id are skipped."""
    out = []
    for f in files:
        try:
            raw_name, size, file_url = str(f["name"]), int(f["size"]), str(f["url"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DownloadError(
                f"Malformed file entry in the NEON listing {strip_query(url)}: "
                f"{_redact(repr(exc))}; expected name, size and url."
            ) from None
        # Only the last path segment, query stripped: a name can never point outside dest_dir.
        name = local_name(raw_name)
        m = TILE_NAME_RE.search(name)
        if m is None:
            continue
        out.append(
            TileFile(
                tile=f"{m.group(1)}_{m.group(2)}",
                name=name,
                url=file_url,
                size=size,
                crc32c=_norm_crc(f.get("crc32c")),
                month=month,
                release=str(f.get("release") or release),
            )
        )
    return out


def _norm_crc(v: Any) -> str | None:
    # NU-py compares str(crc32c).zfill(8): leading zeros may be missing in the listing.
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    s = str(v).strip().lower()
    return s.zfill(8) if s else None


# ----------------------------------------------------------------------------- selection
@dataclasses.dataclass(frozen=True)
class _Selection:
    kind: str  # "all" | "list" | "bbox" | "around_plots"
    ids: tuple[str, ...] = ()
    bbox: tuple[float, float, float, float] | None = None
    points: tuple[tuple[float, float], ...] = ()
    buffer_m: float = 0.0


_SELECTION_HELP = (
    '"all", a list of tile ids like ["451000_3104000"], {"bbox": [xmin, ymin, '
    'xmax, ymax]} or {"around_plots": {"points": [[x, y], ...], "buffer_m": b}}'
)


def _parse_selection(tiles: Any) -> _Selection:
    if isinstance(tiles, str):
        if tiles.strip().lower() == "all":
            return _Selection("all")
        tiles = [tiles]
    if isinstance(tiles, Mapping):
        if set(tiles) == {"bbox"}:
            return _Selection("bbox", bbox=_parse_bbox(tiles["bbox"]))
        if set(tiles) == {"around_plots"}:
            return _parse_around(tiles["around_plots"])
        raise ConfigError(f"neon.tiles has keys {sorted(tiles)}; must be {_SELECTION_HELP}")
    if isinstance(tiles, Sequence) and tiles and all(isinstance(t, str) for t in tiles):
        bad = [t for t in tiles if not TILE_ID_RE.match(t.strip())]
        if bad:
            raise ConfigError(
                f"neon.tiles: {bad} are not tile ids; a tile id is the lower-left "
                f"corner EEEEEE_NNNNNNN in metres, e.g. '451000_3104000'"
            )
        return _Selection("list", ids=tuple(dict.fromkeys(t.strip() for t in tiles)))
    raise ConfigError(f"neon.tiles is {tiles!r}; must be {_SELECTION_HELP}")


def _finite(v: Any) -> float:
    x = float(v)
    if not math.isfinite(x):
        raise ValueError(v)
    return x


def _parse_bbox(v: Any) -> tuple[float, float, float, float]:
    try:
        xmin, ymin, xmax, ymax = (_finite(c) for c in v)
    except (TypeError, ValueError):
        raise ConfigError(
            f"neon.tiles.bbox is {v!r}; must be 4 numbers [xmin, ymin, xmax, ymax] "
            f"in the site's UTM metres"
        ) from None
    if xmin > xmax or ymin > ymax:
        raise ConfigError(
            f"neon.tiles.bbox {v!r} has xmin > xmax or ymin > ymax; order is "
            f"[xmin, ymin, xmax, ymax]"
        )
    return xmin, ymin, xmax, ymax


def _parse_around(v: Any) -> _Selection:
    try:
        pts = tuple((_finite(p[0]), _finite(p[1])) for p in v["points"] if len(p) == 2)
        n = len(v["points"])
        buf = _finite(v.get("buffer_m", 0))
    except (TypeError, ValueError, KeyError, IndexError):
        raise ConfigError(
            f"neon.tiles.around_plots is {v!r}; must be {{'points': [[x, y], ...], "
            f"'buffer_m': metres}} in the site's UTM metres"
        ) from None
    if len(pts) != n or not pts:
        raise ConfigError(
            "neon.tiles.around_plots.points must be a non-empty list of [x, y] "
            "pairs in the site's UTM metres"
        )
    if buf < 0:
        raise ConfigError(f"neon.tiles.around_plots.buffer_m is {buf}; must be >= 0 metres")
    return _Selection("around_plots", points=pts, buffer_m=buf)


def _corner(v: float) -> int:
    return int(math.floor(v / TILE_SIZE_M) * TILE_SIZE_M)


def tiles_in_extent(xmin: float, ymin: float, xmax: float, ymax: float) -> list[str]:
    """Every tile id whose 1 km tile touches the closed box (lower-left ``floor(v/1000)*1000``).

    >>> tiles_in_extent(450500, 3100500, 452000, 3100600)
    ['450000_3100000', '451000_3100000', '452000_3100000']
    """
    return [
        f"{e:06d}_{n:07d}"
        for e in range(_corner(xmin), _corner(xmax) + 1, TILE_SIZE_M)
        for n in range(_corner(ymin), _corner(ymax) + 1, TILE_SIZE_M)
    ]


def _extent_text(available: Iterable[str]) -> str:
    ids = sorted(available)
    es = [int(t[:6]) for t in ids]
    ns = [int(t[7:]) for t in ids]
    shown = ", ".join(ids[:40]) + (f", ... ({len(ids) - 40} more)" if len(ids) > 40 else "")
    return (
        f"{len(ids)} tiles with lower-left eastings {min(es)}-{max(es)} and northings "
        f"{min(ns)}-{max(ns)} (tile extent {min(es)}-{max(es) + TILE_SIZE_M} E, "
        f"{min(ns)}-{max(ns) + TILE_SIZE_M} N): {shown}"
    )


def _select(
    sel: _Selection, available: Mapping[str, TileFile], *, product: str, site: str, year: int
) -> list[str]:
    where = f"{product} at {site} in {year}"
    if sel.kind == "all":
        return list(available)
    if sel.kind == "list":
        missing = [t for t in sel.ids if t not in available]
        if missing:
            raise ConfigError(
                f"neon.tiles: {missing} are not available for {where}. "
                f"Available: {_extent_text(available)}."
            )
        return list(sel.ids)
    if sel.kind == "bbox":
        chosen = _touching(available, *sel.bbox)
        if not chosen:
            raise ConfigError(
                f"neon.tiles.bbox {list(sel.bbox)} touches no tile of {where}. "
                f"Available: {_extent_text(available)}."
            )
        return chosen
    # around_plots: the buffer may run past the site edge (those tiles are simply absent), but
    # a plot whose own tile is missing cannot be analysed.
    outside = [
        (x, y) for x, y in sel.points if f"{_corner(x):06d}_{_corner(y):07d}" not in available
    ]
    if outside:
        raise ConfigError(
            f"neon.tiles.around_plots: points {outside} fall outside the tiles of "
            f"{where}. Available: {_extent_text(available)}."
        )
    b = sel.buffer_m
    wanted = dict.fromkeys(
        t for x, y in sel.points for t in _touching(available, x - b, y - b, x + b, y + b)
    )
    return list(wanted)


def _touching(
    available: Iterable[str], xmin: float, ymin: float, xmax: float, ymax: float
) -> list[str]:
    """The available tile ids among :func:`tiles_in_extent` (without enumerating huge boxes)."""
    e0, e1, n0, n1 = _corner(xmin), _corner(xmax), _corner(ymin), _corner(ymax)
    return [t for t in available if e0 <= int(t[:6]) <= e1 and n0 <= int(t[7:]) <= n1]


# ----------------------------------------------------------------------------- listing file
def write_tile_listing(tiles: Iterable[TileFile], csv_path: str | os.PathLike) -> Path:
    """Write ``tiles`` as CSV (columns ``tile,name,size,crc32c,url,month,release``), atomically.

    A missing ``crc32c`` is an empty cell.
    """
    csv_path = Path(csv_path)
    with atomic_path(csv_path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(LISTING_COLUMNS)
        for t in tiles:
            w.writerow([t.tile, t.name, t.size, t.crc32c or "", t.url, t.month, t.release])
    return csv_path


def read_tile_listing(csv_path: str | os.PathLike) -> list[TileFile]:
    """Read a listing written by :func:`write_tile_listing`."""
    csv_path = Path(csv_path)
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = set(LISTING_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise InputDataError(
                f"Tile listing {csv_path} lacks columns {sorted(missing)}; "
                f"expected {list(LISTING_COLUMNS)}. Delete it and list the tiles "
                f"again."
            )
        out = []
        for lineno, row in enumerate(reader, start=2):
            try:
                if not TILE_ID_RE.match(row["tile"]):
                    raise ValueError(f"tile {row['tile']!r}")
                out.append(
                    TileFile(
                        tile=row["tile"],
                        name=row["name"],
                        url=row["url"],
                        size=int(row["size"]),
                        crc32c=row["crc32c"] or None,
                        month=row["month"],
                        release=row["release"],
                    )
                )
            except (TypeError, ValueError) as exc:
                raise InputDataError(
                    f"Tile listing {csv_path} line {lineno} is malformed "
                    f"({exc}). Delete it and list the tiles again."
                ) from None
    return out


def check_size(tiles: Sequence[TileFile], max_download_gb: float) -> int:
    """Total size of ``tiles`` in bytes; ConfigError above ``max_download_gb`` (GB = 1e9 bytes)."""
    try:
        cap = float(max_download_gb)
    except (TypeError, ValueError):
        cap = float("nan")
    if not cap > 0:
        raise ConfigError(
            f"neon.max_download_gb is {max_download_gb!r}; must be a positive "
            f"number of gigabytes"
        )
    total = sum(t.size for t in tiles)
    if total > cap * 1e9:
        raise ConfigError(
            f"The selected tiles total {total / 1e9:.2f} GB in {len(tiles)} files, more than "
            f"neon.max_download_gb = {max_download_gb:g} GB. Raise neon.max_download_gb to at "
            f"least {math.ceil(total / 1e8) / 10:g} or select fewer tiles with neon.tiles."
        )
    return total


# ----------------------------------------------------------------------------- download
class _Retry(Exception):
    """A failed attempt worth retrying; ``progressed``: the partial file grew."""

    def __init__(self, cause: str, progressed: bool = False, outcome: str | None = None) -> None:
        super().__init__(cause)
        self.cause = cause
        self.progressed = progressed
        self.outcome = outcome  # identical bad outcomes twice in a row = persistent


class _Expired(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def crc32c_of_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """CRC-32C (Castagnoli) of a file as 8 lowercase hex digits."""
    c = google_crc32c.Checksum()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            c.update(chunk)
    return c.digest().hex()


def file_matches(path: str | os.PathLike, tile: TileFile) -> bool:
    """True when ``path`` exists with ``tile.size`` bytes and (if listed) ``tile.crc32c``."""
    p = Path(path)
    if not p.is_file() or p.stat().st_size != tile.size:
        return False
    return tile.crc32c is None or crc32c_of_file(p) == tile.crc32c


class _Progress:
    """Progress lines (bytes, MB/s) at most every ``interval`` seconds, plus a final one."""

    def __init__(self, logger: logging.Logger, tile: TileFile, interval: float) -> None:
        self.log, self.tile, self.interval = logger, tile, interval
        self.t0 = self.last = time.monotonic()
        self.received = 0

    def add(self, n: int, have: int) -> None:
        self.received += n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            rate = self.received / _MB / max(now - self.t0, 1e-9)
            self.log.info(
                "%s: %.1f of %.1f MB (%.0f%%), %.1f MB/s",
                self.tile.name,
                have / _MB,
                self.tile.size / _MB,
                100 * have / max(self.tile.size, 1),
                rate,
            )

    def done(self) -> None:
        dt = max(time.monotonic() - self.t0, 1e-9)
        self.log.info(
            "%s: downloaded %.1f MB in %.1f s (%.1f MB/s), size and crc32c %s",
            self.tile.name,
            self.received / _MB,
            dt,
            self.received / _MB / dt,
            "verified" if self.tile.crc32c else "(size only: no crc32c listed) verified",
        )


def download_tile(
    client: NeonClient,
    tile: TileFile,
    dest_path: str | os.PathLike,
    *,
    refresh: Callable[[], TileFile | None] | None = None,
    progress_log: logging.Logger | None = None,
    progress_interval: float = 5.0,
    chunk_size: int = 1 << 20,
) -> Path:
    """Download ``tile`` to ``dest_path``, verified, resumable; return ``dest_path``.

    Bytes stream to ``<dest_path>.part``; the byte count must equal ``tile.size`` and the
    CRC-32C (computed while streaming; over the existing part when resuming) must equal
    ``tile.crc32c`` when listed; then the part file is renamed to ``dest_path``. A file
    already at ``dest_path`` that matches is not downloaded again.

    Failure handling:

    - timeouts, dropped connections, HTTP 5xx: retry after ``client.backoff_delay`` (an
      interrupted attempt that extended the part file does not use up a retry); the transfer
      resumes with ``Range: bytes=N-``, or restarts from 0 when the server answers 200;
    - HTTP 400/403 (expired signed URL): ``refresh()`` returns a fresh TileFile (new URL) or
      ``None`` (no longer listed); without ``refresh`` this fails at once;
    - HTTP 404: DownloadError at once; HTTP 429: waits ``x-ratelimit-reset`` (client);
    - checksum or size mismatch: the part file is deleted and the download retried; the same
      wrong result twice in a row fails at once (the server keeps serving those bytes).

    After ``client.max_retries`` retries: DownloadError naming the tile, the URL without its
    query and the last cause. The part file of an interrupted transfer is kept for resuming;
    a corrupt one is deleted. Nothing unverified is ever left under ``dest_path``.
    """
    logger = progress_log or log
    dest = Path(dest_path)
    part = dest.with_name(dest.name + ".part")
    if dest.exists():
        if file_matches(dest, tile):
            logger.info(
                "%s: already present with the listed size%s; not downloading",
                dest.name,
                " and crc32c" if tile.crc32c else "",
            )
            return dest
        logger.warning(
            "%s exists but differs from the listing (size/crc32c); downloading again", dest
        )
    dest.parent.mkdir(parents=True, exist_ok=True)

    failures = 0
    last_outcome: str | None = None
    cause = "no attempt made"
    state = _TransferState()
    while True:
        try:
            _attempt(client, tile, part, logger, progress_interval, chunk_size, state)
        except _Retry as exc:
            cause = exc.cause
            if exc.outcome is not None and exc.outcome == last_outcome:
                raise DownloadError(
                    _fail_msg(
                        tile,
                        f"{cause} (same result twice in a row)",
                        "The server keeps sending data that do not match the listing; retry later "
                        "or report it to NEON.",
                    )
                )
            last_outcome = exc.outcome
            if not exc.progressed:
                failures += 1
            if failures > client.max_retries:
                raise DownloadError(
                    _fail_msg(
                        tile,
                        cause,
                        f"Gave up after {failures} failed attempts; check the network and rerun "
                        f"(the partial file is kept and resumed).",
                    )
                )
            delay = client.backoff_delay(max(failures, 1))
            if exc.progressed:
                logger.warning(
                    "%s: %s; resuming in %.1f s (progress was made: not counted as a failure)",
                    tile.name,
                    cause,
                    delay,
                )
            else:
                logger.warning(
                    "%s: %s; retrying in %.1f s (failure %d of %d allowed)",
                    tile.name,
                    cause,
                    delay,
                    failures,
                    client.max_retries,
                )
            client.sleep(delay)
            continue
        except _Expired as exc:
            cause = f"HTTP {exc.status} (signed URL expired or refused)"
            if refresh is None:
                raise DownloadError(
                    _fail_msg(
                        tile,
                        cause,
                        "List the tiles again (rerun the listing step) to get fresh download URLs.",
                    )
                )
            failures += 1
            if failures > client.max_retries:
                raise DownloadError(
                    _fail_msg(
                        tile,
                        cause,
                        f"Fresh URLs from a new listing were refused too; check {TOKEN_ENV} and "
                        f"retry.",
                    )
                )
            logger.warning("%s: %s; fetching a fresh listing for a new URL", tile.name, cause)
            try:
                fresh = refresh()
            except DownloadError as rexc:
                raise DownloadError(
                    _fail_msg(tile, cause, f"Fetching a fresh listing failed too: {rexc}")
                ) from None
            if fresh is None:
                raise DownloadError(
                    _fail_msg(
                        tile,
                        cause,
                        "The tile is no longer in the NEON listing; list the tiles again.",
                    )
                )
            if (fresh.size, fresh.crc32c) != (tile.size, tile.crc32c):
                logger.warning("%s changed on the server (size/crc32c); restarting", tile.name)
                part.unlink(missing_ok=True)
            tile = fresh
            continue
        os.replace(part, dest)
        return dest


def _fail_msg(tile: TileFile, cause: str, hint: str) -> str:
    return (
        f"Download of tile {tile.tile} ({tile.name}) from {strip_query(tile.url)} failed: "
        f"{cause}. {hint}"
    )


@dataclasses.dataclass
class _TransferState:
    """What one download learnt across attempts."""

    range_ok: bool | None = None  # None: unknown (e.g. a part file from an earlier run)


def _attempt(
    client: NeonClient,
    tile: TileFile,
    part: Path,
    logger: logging.Logger,
    interval: float,
    chunk_size: int,
    state: _TransferState,
) -> None:
    """One transfer attempt into ``part``; returns only when ``part`` is the verified file."""
    offset = part.stat().st_size if part.exists() else 0
    if offset > tile.size or (offset and state.range_ok is False):
        part.unlink()
        offset = 0
    if offset and offset == tile.size:
        if tile.crc32c is None or crc32c_of_file(part) == tile.crc32c:
            return  # a previous run got everything but did not rename
        part.unlink()
        offset = 0
    # identity: byte counts, checksums and ranges refer to the stored bytes, not a gzip stream.
    headers = {"Accept": "*/*", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        resp = client.request(tile.url, headers=headers, stream=True)
    except _NETWORK_ERRORS as exc:
        raise _Retry(_cause(exc)) from None
    except DownloadError as exc:  # rate limit never lifted: say which tile
        raise DownloadError(_fail_msg(tile, "HTTP 429 (rate limit)", str(exc))) from None
    with resp:
        status = resp.status_code
        if status == 404:
            raise DownloadError(
                _fail_msg(
                    tile,
                    "HTTP 404 (not found)",
                    "The file is listed but missing on the server; list the tiles again or "
                    "report it to NEON.",
                )
            )
        if status in _EXPIRED_STATUS:
            raise _Expired(status)
        if status == 401:
            raise DownloadError(
                _fail_msg(
                    tile, "HTTP 401", _unauthorised_message(strip_query(tile.url), client.has_token)
                )
            )
        if status in _RETRY_STATUS:
            raise _Retry(f"HTTP {status}")
        if status == 416:  # our offset is past the server's end: the part file is stale
            part.unlink(missing_ok=True)
            raise _Retry("HTTP 416 (range not satisfiable); restarting from 0")
        if status not in (200, 206):
            raise DownloadError(
                _fail_msg(tile, f"unexpected HTTP {status}", "Report this to NEON if it persists.")
            )
        if status == 206:
            start = _content_range_start(resp.headers.get("Content-Range"))
            if not offset or start != offset:
                part.unlink(missing_ok=True)
                raise _Retry(f"HTTP 206 for bytes {start} instead of {offset}; restarting")
            state.range_ok = True
        else:
            state.range_ok = resp.headers.get("Accept-Ranges", "").lower() == "bytes"
            if offset:
                logger.info(
                    "%s: server ignored the Range request (HTTP 200); restarting from 0", tile.name
                )
                offset = 0
            length = resp.headers.get("Content-Length")
            encoded = resp.headers.get("Content-Encoding", "identity") != "identity"
            if length is not None and length.isdigit() and not encoded and int(length) != tile.size:
                raise _Retry(
                    f"server announces {length} bytes, the listing says {tile.size}",
                    outcome=f"length:{length}",
                )

        crc = google_crc32c.Checksum()
        if offset:
            with open(part, "rb") as f:  # the checksum must cover the bytes already there
                while chunk := f.read(1 << 20):
                    crc.update(chunk)
            logger.info("%s: resuming at byte %d of %d", tile.name, offset, tile.size)
        have = offset
        progress = _Progress(logger, tile, interval)
        try:
            with open(part, "ab" if offset else "wb") as f:
                try:
                    for chunk in resp.iter_content(chunk_size):
                        if have + len(chunk) > tile.size:
                            raise _Retry(
                                f"server sent more than the listed {tile.size} bytes",
                                outcome="too-long",
                            )
                        f.write(chunk)
                        crc.update(chunk)
                        have += len(chunk)
                        progress.add(len(chunk), have)
                    f.flush()
                    os.fsync(f.fileno())
                except (requests.RequestException, ConnectionError) as exc:
                    # Network trouble mid-stream (local disk errors are plain OSErrors and
                    # propagate): keep what arrived for a Range resume.
                    raise _Retry(
                        f"{_cause(exc)} after {have} of {tile.size} bytes", progressed=have > offset
                    ) from None
        except _Retry as exc:
            if exc.outcome == "too-long":
                part.unlink(missing_ok=True)
            raise
    if have < tile.size:
        raise _Retry(
            f"connection closed after {have} of {tile.size} bytes", progressed=have > offset
        )
    digest = crc.digest().hex()
    if tile.crc32c is not None and digest != tile.crc32c:
        part.unlink()
        raise _Retry(
            f"crc32c mismatch: got {digest}, listing says {tile.crc32c}", outcome=f"crc:{digest}"
        )
    progress.done()


def _content_range_start(value: str | None) -> int | None:
    m = re.match(r"bytes\s+(\d+)-\d+/(\d+|\*)", value or "")
    return int(m.group(1)) if m else None


def make_refresh(
    client: NeonClient, *, product: str, site: str, tile: TileFile
) -> Callable[[], TileFile | None]:
    """A ``refresh`` for :func:`download_tile`: re-list ``tile``'s month, return its new entry."""

    def refresh() -> TileFile | None:
        body = client.get_json(f"data/{product}/{site}/{tile.month}")
        data = body.get("data") or {}
        for tf in _parse_files(
            data.get("files") or [],
            tile.month,
            str(data.get("release") or tile.release),
            f"data/{product}/{site}/{tile.month}",
        ):
            if tf.name == tile.name:
                return tf
        return None

    return refresh


def fetch_tile(
    client: NeonClient,
    tile: TileFile,
    dest_dir: str | os.PathLike,
    *,
    product: str,
    site: str,
    progress_log: logging.Logger | None = None,
    **kwargs,
) -> Path:
    """Download ``tile`` into ``dest_dir/<tile.name>`` with URL refresh; return the path."""
    return download_tile(
        client,
        tile,
        Path(dest_dir) / tile.name,
        refresh=make_refresh(client, product=product, site=site, tile=tile),
        progress_log=progress_log,
        **kwargs,
    )
