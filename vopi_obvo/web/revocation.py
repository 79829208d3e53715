"""Revocation of client certificates: the issuers' CRLs, from files the deployer keeps fresh
(the CAs publish them; a timer or cron fetches them, as for nginx's `ssl_crl`).

A CRL counts only when its issuer's key signed it. A file that changed on disk is read again
at the next check (at most every `RELOAD_EVERY` seconds). A CRL past its nextUpdate, or older
than the configured maximum age, is stale: certificates of that issuer are refused with their
own reason until a fresh CRL is in place, since a stale list cannot show a recent revocation.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from vopi_obvo.errors import ConfigError

RELOAD_EVERY = 30.0


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


def _read(paths: Sequence[str]) -> _Loaded:
    crls: list[x509.CertificateRevocationList] = []
    stamp: list[tuple[str, float]] = []
    for name in paths:
        path = Path(name)
        try:
            data = path.read_bytes()
            stamp.append((name, path.stat().st_mtime))
        except OSError as exc:
            raise ConfigError(f"[portal] crl_files: cannot read {name}: {exc.strerror}") from None
        try:
            crl = (
                x509.load_pem_x509_crl(data)
                if b"-----BEGIN X509 CRL-----" in data
                else x509.load_der_x509_crl(data)
            )
        except ValueError:
            raise ConfigError(f"[portal] crl_files: {name} holds no CRL (PEM or DER)") from None
        crls.append(crl)
    return _Loaded(tuple(crls), tuple(stamp))


class RevocationLists:
    """The CRLs of `[portal] crl_files`, re-read when a file changes."""

    def __init__(self, paths: Sequence[str], max_age: float = 0.0) -> None:
        self.paths = tuple(paths)
        self.max_age = max_age
        self._loaded = _read(self.paths)
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    def _current(self) -> _Loaded:
        with self._lock:
            if time.monotonic() - self._checked < RELOAD_EVERY:
                return self._loaded
            self._checked = time.monotonic()
            try:
                stamp = tuple((n, Path(n).stat().st_mtime) for n in self.paths)
                if stamp != self._loaded.stamp:
                    self._loaded = _read(self.paths)
            except (OSError, ConfigError):
                pass  # the last good lists stay; staleness is judged on their own dates
            return self._loaded

    def reload(self) -> None:
        """Read the files now (tests, and SIGHUP-style reloads)."""
        with self._lock:
            self._loaded = _read(self.paths)
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
                    f"than [portal] crl_max_age ({self.max_age:g} s)"
                ),
            )
        entry = newest.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None:
            raise RevocationProblem(
                revoked=True,
                detail=f"revoked {entry.revocation_date_utc.isoformat()} (CRL of {issuer})",
            )
