"""Mail adapters for `domain.ports.Mailer`: SMTP (aiosmtplib), or the log when none is set."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib
import structlog

from domain.mail import MailMessage

log = structlog.get_logger("gateway.mail")


class SmtpMailer:
    """Sends through one SMTP server; raises aiosmtplib's errors (handlers retry)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        start_tls: bool | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._username, self._password = username, password
        self._start_tls, self._timeout = start_tls, timeout_seconds

    async def send(self, message: MailMessage) -> None:
        email = EmailMessage()
        email["From"] = self._sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email.set_content(message.body)
        await aiosmtplib.send(
            email,
            hostname=self._host,
            port=self._port,
            username=self._username,
            password=self._password,
            start_tls=self._start_tls,
            timeout=self._timeout,
        )


class LogMailer:
    """The development default: the mail is logged (recipient and subject), not sent."""

    async def send(self, message: MailMessage) -> None:
        log.info("mail not sent (MAIL__HOST is not set)", subject=message.subject)
