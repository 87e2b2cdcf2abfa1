"""The only module that imports Apprise: send one message to one URL, and redact URLs for display.

Apprise URLs carry tokens and passwords.  Nothing here lets one out: errors name the redacted URL,
and Apprise's own log lines (which can quote the raw URL) are captured and scrubbed, never printed.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from types import ModuleType
from urllib.parse import parse_qsl, unquote, urlsplit

from fleetwatch.errors import NotifyError
from fleetwatch.findings import Severity

DEFAULT_TIMEOUT = 20.0
"""Cap on each socket connect and read; the sender also bounds the whole send."""
MASK = "****"
# Plugins whose path Apprise treats as plain text, although webhook paths often hold the token.
_GENERIC = {"json", "jsons", "xml", "xmls", "form", "forms"}
_TOPIC = {"ntfy", "ntfys"}
"""Schemes whose path is a topic anyone who knows it can read and post to."""
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_ERRNO = re.compile(r"\[Errno -?\d+\] [^\"')]+")
_lock = threading.Lock()
_loaded: ModuleType | None = None
_sending = 0


def _apprise() -> ModuleType:
    """Import Apprise once, keeping its log lines (which can quote raw URLs) away from other handlers."""
    global _loaded
    with _lock:
        if _loaded is None:
            import apprise

            log = logging.getLogger("apprise")
            log.propagate = False
            log.setLevel(logging.WARNING)
            _loaded = apprise
        return _loaded


class _Capture(logging.Handler):
    """Apprise's complaints made on this thread while sending: the reason a send failed."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.thread = threading.get_ident()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread:
            return  # another thread's send
        text = record.getMessage()
        if text.startswith("Socket Exception"):
            # requests wraps the useful part ("[Errno 111] Connection refused") in two layers of repr.
            errno = _ERRNO.search(text)
            self.lines.append(errno.group(0) if errno else text)
        elif record.levelno >= logging.WARNING:
            self.lines.append(text.rstrip("."))


@contextmanager
def _capturing() -> Iterator[_Capture]:
    """Collect this thread's Apprise log lines; DEBUG while any send runs, for the socket error detail."""
    global _sending
    log = logging.getLogger("apprise")
    capture = _Capture()
    with _lock:
        _sending += 1
        log.setLevel(logging.DEBUG)
    log.addHandler(capture)
    try:
        yield capture
    finally:
        log.removeHandler(capture)
        with _lock:
            _sending -= 1
            if not _sending:
                log.setLevel(logging.WARNING)


def _scheme(url: str) -> str:
    head = url.split("://", 1)[0] if "://" in url else ""
    return head.lower() if _SCHEME.fullmatch(head) else ""


def _masked(segment: str) -> str:
    """``h...k`` for ``hook`` (as Apprise shows tokens); shorter ones wholly; empty stays empty."""
    plain = unquote(segment)
    if not plain:
        return segment
    return f"{plain[0]}...{plain[-1]}" if len(plain) >= 4 else MASK


@lru_cache(maxsize=256)
def redact(url: str) -> str:
    """``url`` with its secrets masked, for every output, log line and error."""
    scheme = _scheme(url)
    fallback = f"{scheme}://{MASK}" if scheme else MASK
    try:
        service = _apprise().Apprise.instantiate(url)
        shown = str(service.url(privacy=True)) if service is not None else ""
    except Exception:  # a URL Apprise cannot even parse is still a secret
        return fallback
    if not shown:
        return fallback
    # Apprise masks the tokens and passwords its plugins know, but prints custom headers
    # (+Authorization=…) and query arguments (-token=…) verbatim: drop the query entirely.
    base = shown.split("?", 1)[0].split("#", 1)[0]
    if scheme in _GENERIC or scheme in _TOPIC:
        # A webhook's path is its password as often as not, and an ntfy topic is one: every segment is
        # masked as Apprise's privacy mode masks tokens (first and last character, enough to tell apart).
        head, sep, path = base.partition("://")
        host, slash, rest = path.partition("/")
        rest = "/".join(_masked(s) for s in rest.split("/"))
        if scheme in _TOPIC and not rest.strip("/"):
            host = _masked(host)  # ntfy://TOPIC: the topic on ntfy.sh
        base = head + sep + host + slash + rest
    return base


def _secrets(url: str) -> list[str]:
    """Pieces of ``url`` that its redacted form hides, longest first (to scrub from error text)."""
    shown = redact(url)
    visible = shown + unquote(shown)
    pieces = re.split(r"[/:@]+", url.split("://", 1)[-1].split("?", 1)[0])
    try:
        parts = urlsplit(url)
        pieces += [parts.username or "", parts.password or ""]
        for _key, value in parse_qsl(parts.query, keep_blank_values=True):
            pieces += [value, *value.split()]
    except ValueError:
        pass
    found = {p for raw in pieces for p in (raw, unquote(raw)) if len(p) >= 4 and p not in visible}
    return sorted(found, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """``text`` with ``url`` and every secret in it replaced by their redacted forms."""
    text = text.replace(url, redact(url))
    for secret in _secrets(url):
        text = text.replace(secret, MASK)
    return text


def _notify_type(apprise: ModuleType, severity: Severity, kind: str) -> object:
    if kind == "resolved":
        return apprise.NotifyType.SUCCESS
    return {
        Severity.INFO: apprise.NotifyType.INFO,
        Severity.WARNING: apprise.NotifyType.WARNING,
        Severity.CRITICAL: apprise.NotifyType.FAILURE,
    }[severity]


def send(
    url: str, title: str, body: str, severity: Severity, kind: str = "", timeout: float = DEFAULT_TIMEOUT
) -> None:
    """Deliver one message to ``url``; raise NotifyError (secrets redacted) when it did not go out."""
    apprise = _apprise()
    shown = redact(url)
    with _capturing() as capture:
        ok = _notify(apprise, url, shown, title, body, severity, kind, timeout, capture)
    if not ok:
        reason = "; ".join(dict.fromkeys(capture.lines)) or "Apprise reported a failure without a reason"
        raise NotifyError(f"sending to {shown} failed: {scrub(reason, url)}")


def _notify(
    apprise: ModuleType,
    url: str,
    shown: str,
    title: str,
    body: str,
    severity: Severity,
    kind: str,
    timeout: float,
    capture: _Capture,
) -> bool:
    """Apprise's verdict on one send; NotifyError for a URL it cannot use or a plugin crash."""
    try:
        service = apprise.Apprise.instantiate(url)
        if service is None:
            reason = "; ".join(capture.lines) or "unknown scheme or missing token"
            raise NotifyError(
                f"{shown} is not a usable Apprise URL ({scrub(reason, url)}): "
                "check it against https://github.com/caronc/apprise/wiki"
            )
        # Apprise's own socket timeouts, capped so a black-holed service cannot hold a send for long.
        service.socket_connect_timeout = min(float(service.socket_connect_timeout), timeout)
        service.socket_read_timeout = min(float(service.socket_read_timeout), timeout)
        return bool(
            service.notify(
                body=body,
                title=title,
                notify_type=_notify_type(apprise, severity, kind),
                body_format=apprise.NotifyFormat.TEXT,
            )
        )
    except NotifyError:
        raise
    except Exception as exc:  # a plugin bug or an odd URL: still one of our errors, still redacted
        reason = scrub(f"{type(exc).__name__}: {exc}", url)
        raise NotifyError(f"sending to {shown} failed: {reason}") from None
