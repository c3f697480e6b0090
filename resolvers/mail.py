"""Outgoing mail: SMTP via `SMTP_URL` (stdlib smtplib in a thread), or the log when it is unset (development).

    smtp://[user:password@]host[:port]        plain SMTP (port 25), STARTTLS when the server offers it
    smtp+starttls://...                       STARTTLS required (port 587)
    smtps://...                               SMTP over TLS (port 465)
"""

from __future__ import annotations

import asyncio
import logging
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlsplit

log = logging.getLogger("crm.mail")
TIMEOUT_SECONDS = 30
_LINK = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
WITHHELD = "[link withheld from the log]"


@dataclass(frozen=True)
class Mailer:
    smtp_url: str | None = None
    sender: str = "CRM <no-reply@localhost>"

    async def send(self, to: list[str], subject: str, body: str) -> None:
        """Send one plain-text message; raises on SMTP failure (callers decide whether that matters)."""
        recipients = [r for r in to if r]
        if not recipients:
            return
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(recipients)
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain="crm.local")
        message.set_content(body)
        if not self.smtp_url:
            # Development only (production refuses to start without SMTP_URL). Links are withheld: an export
            # link downloads personal data with no sign-in, and logs travel further than mail.
            log.info("mail (SMTP_URL unset) to %s: %s\n%s", ", ".join(recipients), subject, _LINK.sub(WITHHELD, body))
            return
        await asyncio.to_thread(self._deliver, message)

    def _deliver(self, message: EmailMessage) -> None:
        assert self.smtp_url is not None
        url = urlsplit(self.smtp_url)
        scheme = url.scheme.lower()
        if scheme not in ("smtp", "smtps", "smtp+starttls"):
            raise ValueError(f"SMTP_URL must start with smtp://, smtps:// or smtp+starttls:// (got {scheme!r})")
        host = url.hostname or "localhost"
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if scheme == "smtps":
            client = smtplib.SMTP_SSL(host, url.port or 465, timeout=TIMEOUT_SECONDS, context=context)
        else:
            client = smtplib.SMTP(host, url.port or (587 if scheme == "smtp+starttls" else 25), timeout=TIMEOUT_SECONDS)
        with client:
            client.ehlo()
            if scheme == "smtp+starttls" or (scheme == "smtp" and client.has_extn("starttls")):
                client.starttls(context=context)
                client.ehlo()
            if url.username:
                client.login(unquote(url.username), unquote(url.password or ""))
            client.send_message(message)
