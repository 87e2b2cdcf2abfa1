"""Real notification receivers on loopback: an HTTP endpoint for ``json://`` and an SMTP server for ``mailto://``.

Both record what arrived, so tests assert on what a person would actually receive.  The HTTP
receiver can answer 500, or stop and start again on the same port ("down, then back").
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Posted:
    """One HTTP request the receiver answered."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int


class HttpReceiver:
    """A threaded HTTP server on 127.0.0.1 recording JSON bodies; ``status`` is what it answers."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.status = 200
        self.received: list[Posted] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def accepted(self) -> list[dict[str, Any]]:
        """Bodies answered with 2xx: what actually got delivered."""
        with self._lock:
            return [p.body for p in self.received if p.status < 300]

    def url(self, path: str = "/hook", scheme: str = "json", query: str = "") -> str:
        """An Apprise URL pointing here."""
        return f"{scheme}://{LOOPBACK}:{self.port}{path}" + (f"?{query}" if query else "")

    def start(self) -> HttpReceiver:
        """Listen (again, on the same port once one was picked)."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = receiver.status
                with receiver._lock:
                    receiver.received.append(Posted(self.path, dict(self.headers), json.loads(raw), status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep pytest output clean

        self._server = ThreadingHTTPServer((LOOPBACK, self.port), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused until ``start`` again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


@dataclass(frozen=True)
class Mail:
    """One message the SMTP server accepted."""

    mail_from: str
    rcpt_to: tuple[str, ...]
    login: tuple[str, str] | None
    message: EmailMessage

    @property
    def subject(self) -> str:
        """The decoded Subject header."""
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        """The plain-text body (the text/plain part of a multipart message)."""
        part = self.message.get_body(preferencelist=("plain", "html"))
        assert part is not None
        return str(part.get_content())


class SmtpReceiver:
    """aiosmtpd on 127.0.0.1 accepting plain SMTP with AUTH (no TLS), recording every message."""

    def __init__(self, user: str = "fw", password: str = "s3cret-pw") -> None:
        self.credentials = (user, password)
        self.received: list[Mail] = []
        self.port = free_port()
        self._controller = Controller(
            self,
            hostname=LOOPBACK,
            port=self.port,
            authenticator=self._authenticate,
            auth_require_tls=False,  # loopback test server: plain AUTH is what we want to exercise
        )

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == (
            self.credentials
        )
        return AuthResult(success=ok, auth_data=data)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """aiosmtpd hook: one accepted message."""
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        auth = session.auth_data
        login = (auth.login.decode(), auth.password.decode()) if isinstance(auth, LoginPassword) else None
        self.received.append(Mail(str(envelope.mail_from), tuple(envelope.rcpt_tos), login, message))
        return "250 Message accepted for delivery"

    def url(self, to: str = "ops@example.com", sender: str = "fw@example.com") -> str:
        """Apprise's plain-SMTP URL: ``mailto://`` (not ``mailtos://``) means no TLS; port explicit."""
        user, password = self.credentials
        return f"mailto://{user}:{password}@{LOOPBACK}:{self.port}?to={to}&from={sender}"

    def start(self) -> SmtpReceiver:
        """Start serving in aiosmtpd's thread."""
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._controller.stop()


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` until true or ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
