"""Revocation of client certificates: the issuers' CRLs, from files the deployer keeps fresh
(the CAs publish them; a timer or cron fetches them, as for nginx's `ssl_crl`), and from URLs
this process fetches on a schedule into a cache directory (`CrlFetcher`), so a restart starts
with the last lists and an unreachable distribution point leaves the cached copy in use.

A CRL counts only when its issuer's key signed it. A file that changed on disk is read again
at the next check (at most every `RELOAD_EVERY` seconds). A CRL past its nextUpdate, or older
than the configured maximum age, is stale: certificates of that issuer are refused with their
own reason until a fresh CRL is in place, since a stale list cannot show a recent revocation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from vopi_obvo.errors import ConfigError

RELOAD_EVERY = 30.0
MAX_CRL_BYTES = 50_000_000  # the largest national CRLs are a few MB


class RevocationProblem(Exception):
    """The certificate is revoked (`revoked` True) or its revocation cannot be known."""

    def __init__(self, *, revoked: bool, detail: str) -> None:
        super().__init__(detail)
        self.revoked = revoked
        self.detail = detail


@dataclass(frozen=True)
class _Loaded:
    crls: tuple[x509.CertificateRevocationList, ...]
    stamp: tuple[tuple[str, float], ...]  # (path, mtime) of each file when read


def parse_crl(data: bytes) -> x509.CertificateRevocationList:
    """A CRL in PEM or DER; ValueError when it is neither."""
    if b"-----BEGIN X509 CRL-----" in data:
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)


def _read(paths: Sequence[str], fetched: Sequence[Path] = (), section: str = "portal") -> _Loaded:
    """The configured files (each must be readable) and the fetched copies present."""
    crls: list[x509.CertificateRevocationList] = []
    stamp: list[tuple[str, float]] = []
    for name in paths:
        path = Path(name)
        try:
            data = path.read_bytes()
            stamp.append((name, path.stat().st_mtime))
        except OSError as exc:
            raise ConfigError(
                f"[{section}] crl_files: cannot read {name}: {exc.strerror}"
            ) from None
        try:
            crls.append(parse_crl(data))
        except ValueError:
            raise ConfigError(f"[{section}] crl_files: {name} holds no CRL (PEM or DER)") from None
    for path in fetched:
        try:
            stamp.append((str(path), path.stat().st_mtime))
            crls.append(parse_crl(path.read_bytes()))
        except (OSError, ValueError):
            continue  # not fetched yet, or a bad copy: that issuer has no CRL until it is
    return _Loaded(tuple(crls), tuple(stamp))


class RevocationLists:
    """The CRLs of a section's `crl_files` (and fetched copies), re-read when a file changes."""

    def __init__(
        self,
        paths: Sequence[str],
        max_age: float = 0.0,
        fetched: Sequence[Path] = (),
        section: str = "portal",  # the configuration section that lists them, for messages
    ) -> None:
        self.paths = tuple(paths)
        self.fetched = tuple(fetched)
        self.max_age = max_age
        self.section = section
        self._loaded = _read(self.paths, self.fetched, section)
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    def _current(self) -> _Loaded:
        with self._lock:
            if time.monotonic() - self._checked < RELOAD_EVERY:
                return self._loaded
            self._checked = time.monotonic()
            try:
                names = [*self.paths, *(str(p) for p in self.fetched if p.exists())]
                stamp = tuple((n, Path(n).stat().st_mtime) for n in names)
                if stamp != self._loaded.stamp:
                    self._loaded = _read(self.paths, self.fetched, self.section)
            except (OSError, ConfigError):
                pass  # the last good lists stay; staleness is judged on their own dates
            return self._loaded

    def reload(self) -> None:
        """Read the files now (tests, and SIGHUP-style reloads)."""
        with self._lock:
            self._loaded = _read(self.paths, self.fetched, self.section)
            self._checked = time.monotonic()

    def check(self, cert: x509.Certificate, ca: x509.Certificate, now: dt.datetime) -> None:
        """RevocationProblem unless a fresh CRL signed by `ca` does not list `cert`."""
        issuer = ca.subject.rfc4514_string()
        crls = [
            crl
            for crl in self._current().crls
            if crl.issuer == ca.subject and crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
        ]
        if not crls:
            raise RevocationProblem(revoked=False, detail=f"no CRL signed by {issuer}")
        newest = max(crls, key=lambda c: c.last_update_utc)
        if newest.next_update_utc is not None and now > newest.next_update_utc:
            raise RevocationProblem(
                revoked=False,
                detail=f"the CRL of {issuer} expired {newest.next_update_utc.isoformat()}",
            )
        if self.max_age and (now - newest.last_update_utc).total_seconds() > self.max_age:
            raise RevocationProblem(
                revoked=False,
                detail=(
                    f"the CRL of {issuer} is from {newest.last_update_utc.isoformat()}, older "
                    f"than [{self.section}] crl_max_age ({self.max_age:g} s)"
                ),
            )
        entry = newest.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None:
            raise RevocationProblem(
                revoked=True,
                detail=f"revoked {entry.revocation_date_utc.isoformat()} (CRL of {issuer})",
            )


def cached_path(cache_dir: str, url: str) -> Path:
    return Path(cache_dir) / f"crl-{hashlib.sha256(url.encode()).hexdigest()[:16]}.crl"


class CrlFetcher:
    """Fetches a section's `crl_urls` (`[portal]`, `[console]`) every `interval` seconds into
    `cache_dir` (a new copy replaces the old one only when it parses as a CRL), then has the
    lists re-read."""

    def __init__(
        self,
        urls: Sequence[str],
        cache_dir: str,
        interval: float,
        on_result: Callable[[str, str | None], None] = lambda url, problem: None,
        timeout: float = 20.0,
    ) -> None:
        self.urls = tuple(urls)
        self.cache_dir = cache_dir
        self.interval = interval
        self.on_result = on_result  # (url, None when fetched, else why not): for the log
        self.timeout = timeout
        self.lists: RevocationLists | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def paths(self) -> list[Path]:
        return [cached_path(self.cache_dir, url) for url in self.urls]

    def fetch_all(self) -> None:
        for url in self.urls:
            self.on_result(url, self._fetch(url))
        if self.lists is not None:
            self.lists.reload()

    def _fetch(self, url: str) -> str | None:
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as reply:  # noqa: S310 - http(s) only, checked at start
                data = reply.read(MAX_CRL_BYTES + 1)
        except (OSError, ValueError) as exc:
            return f"{type(exc).__name__}: {exc}"
        if len(data) > MAX_CRL_BYTES:
            return f"larger than {MAX_CRL_BYTES} bytes"
        try:
            parse_crl(data)
        except ValueError:
            return "the answer is not a CRL (PEM or DER)"
        target = cached_path(self.cache_dir, url)
        try:
            # A temporary file of this fetch's own: two processes sharing the cache (the
            # portal and the console) never write into each other's half-written copy.
            handle, name = tempfile.mkstemp(dir=self.cache_dir, prefix=target.stem, suffix=".tmp")
        except OSError as exc:
            return f"cannot write the cached copy: {exc}"
        temporary = Path(name)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            temporary.replace(target)  # readers see the old copy or the new one, never half
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            return f"cannot write the cached copy: {exc}"
        return None

    def start(self) -> None:
        def run() -> None:
            while not self._stop.wait(self.interval):
                self.fetch_all()

        self._thread = threading.Thread(target=run, name="crl-fetcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 1)
