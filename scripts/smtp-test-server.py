#!/usr/bin/env python3
"""A real SMTP server on 127.0.0.1 for Parley's SMTP client tests (aiosmtpd).

Listens on a free port and prints "PORT <n>" as its first stdout line once it accepts
connections (with TLS, only after the certificates are written). Every message it accepts is
written to RECORD_DIR/message-NNNN.json (atomically, before the 250 reply to the final dot),
so a client that has its reply can read the file at once. Exits when stdin reaches EOF (the
test closed it or died) or on SIGTERM/SIGINT.

Requires: aiosmtpd; with --tls also trustme (which brings cryptography).
    pip install aiosmtpd==1.4.6 trustme==1.2.1
"""
import argparse
import asyncio
import base64
import email
import email.policy
import json
import os
import signal
import ssl
import sys
import threading

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--record-dir", required=True, help="where received messages (and ca.pem) are written")
    p.add_argument("--tls", choices=["none", "starttls", "implicit"], default="none")
    p.add_argument("--cert-name", action="append", metavar="NAME",
                   help="a name (DNS or IP) of the server certificate, repeatable (default: localhost, 127.0.0.1, ::1)")
    p.add_argument("--auth", metavar="USER:PASSWORD", help="offer AUTH and accept these credentials")
    p.add_argument("--auth-mechanisms", default="PLAIN,LOGIN", help="comma-separated, of PLAIN and LOGIN")
    p.add_argument("--auth-require-tls", action="store_true", help="offer AUTH only inside TLS (after STARTTLS)")
    p.add_argument("--auth-required", action="store_true", help="refuse MAIL before AUTH")
    p.add_argument("--reject-auth", action="store_true", help="answer every AUTH with 535")
    p.add_argument("--refuse-starttls", action="store_true", help="advertise STARTTLS but answer it with 454")
    p.add_argument("--inject-after-starttls", action="store_true",
                   help="answer STARTTLS with 220 and, in the same write, a plain-text reply (never start TLS)")
    p.add_argument("--no-ehlo", action="store_true", help="answer EHLO with 502, so the client must use HELO")
    p.add_argument("--mail-reply", help='reply to every MAIL FROM, e.g. "451 4.3.0 try later"')
    p.add_argument("--rcpt-reply", help='reply to every RCPT TO, e.g. "550 5.1.1 no such user"')
    p.add_argument("--reject-rcpt", action="append", default=[], metavar="ADDRESS",
                   help="answer RCPT TO for this address with 550 (repeatable)")
    p.add_argument("--data-reply", help='reply after the message data, e.g. "554 5.6.0 rejected"; the message is still recorded')
    p.add_argument("--size-limit", type=int, default=33554432, help="advertised SIZE (0: none)")
    p.add_argument("--stall", action="store_true",
                   help='accept connections but never send a greeting; print "CONNECTED" for each')
    return p.parse_args()


def make_tls_context(record_dir, names):
    import trustme  # only needed with --tls

    ca = trustme.CA()
    cert = ca.issue_cert(*(names or ["localhost", "127.0.0.1", "::1"]))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    cert.configure_cert(ctx)
    path = os.path.join(record_dir, "ca.pem")
    tmp = path + ".tmp"
    ca.cert_pem.write_to_path(tmp)
    os.replace(tmp, path)
    return ctx


class Recorder:
    def __init__(self, args):
        self.args = args
        self.count = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        # aiosmtpd advertises "AUTH" with an empty list when every mechanism is excluded.
        return [r for r in responses if r.strip() != "250-AUTH"]

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.args.mail_reply:
            return self.args.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.args.rcpt_reply:
            return self.args.rcpt_reply
        if address in self.args.reject_rcpt:
            return f"550 5.1.1 <{address}>: no such user"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        data = envelope.original_content or b""
        ssl_object = server.transport.get_extra_info("ssl_object") if server.transport else None
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "mail_options": envelope.mail_options,
            "helo": session.host_name,
            "esmtp": bool(session.extended_smtp),
            "tls": ssl_object is not None,
            "tls_version": ssl_object.version() if ssl_object is not None else None,
            "auth": session.auth_data if isinstance(session.auth_data, dict) else None,
            "data_b64": base64.b64encode(data).decode("ascii"),
        }
        record.update(parse_message(data))
        path = os.path.join(self.args.record_dir, f"message-{self.count:04d}.json")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False, indent=1)
        os.replace(path + ".tmp", path)
        return self.args.data_reply or f"250 2.0.0 Ok: queued as PARLEY{self.count:04d}"


def parse_message(data):
    """What an independent MIME parser (Python's email package) makes of the message."""
    try:
        msg = email.message_from_bytes(data, policy=email.policy.default)
        out = {
            "subject": str(msg["subject"]) if msg["subject"] is not None else None,
            "from_header": str(msg["from"]) if msg["from"] is not None else None,
            "from_display_name": None,
            "from_address": None,
            "to_addresses": [],
            "content_type": msg.get_content_type(),
            "text": None,
            "html": None,
            "defects": [type(d).__name__ for d in msg.defects],
        }
        if msg["from"] is not None and msg["from"].addresses:
            out["from_display_name"] = msg["from"].addresses[0].display_name
            out["from_address"] = msg["from"].addresses[0].addr_spec
        if msg["to"] is not None:
            out["to_addresses"] = [a.addr_spec for a in msg["to"].addresses]
        for part in msg.walk():
            if part.is_multipart():
                out["defects"] += [type(d).__name__ for d in part.defects]
                continue
            ctype = part.get_content_type()
            # Decoded text with line breaks as "\n", whatever the transfer encoding carried.
            if ctype == "text/plain" and out["text"] is None:
                out["text"] = part.get_content().replace("\r\n", "\n")
            elif ctype == "text/html" and out["html"] is None:
                out["html"] = part.get_content().replace("\r\n", "\n")
            out["defects"] += [type(d).__name__ for d in part.defects]
        return out
    except Exception as e:  # recorded, not fatal: the test sees it
        return {"parse_error": repr(e)}


class TestSMTP(SMTP):
    """aiosmtpd's SMTP with the failure modes the tests need."""

    options = None

    async def smtp_EHLO(self, hostname):
        if self.options.no_ehlo:
            await self.push("502 5.5.2 Error: command not recognized")
            return
        await super().smtp_EHLO(hostname)

    async def smtp_STARTTLS(self, arg):
        if self.options.refuse_starttls:
            await self.push("454 4.7.0 TLS not available due to temporary reason")
            return
        if self.options.inject_after_starttls:
            # The "STARTTLS command injection" shape (CVE-2011-0411 and kin), from the server side.
            await self.push("220 Ready to start TLS\r\n250 injected before the handshake")
            return
        await super().smtp_STARTTLS(arg)


def make_authenticator(args):
    user, _, password = (args.auth or ":").partition(":")

    def authenticator(server, session, envelope, mechanism, auth_data):
        if args.reject_auth or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        if login == user and auth_data.password.decode("utf-8", "replace") == password:
            return AuthResult(success=True, auth_data={"user": login, "mechanism": mechanism})
        return AuthResult(success=False, handled=False)

    return authenticator


async def main():
    args = parse_args()
    os.makedirs(args.record_dir, exist_ok=True)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def request_stop():
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop)

    # EOF on stdin (the test closed the pipe, or exited) stops the server too.
    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            loop.call_soon_threadsafe(request_stop)

    threading.Thread(target=watch_stdin, daemon=True).start()

    tls_context = make_tls_context(args.record_dir, args.cert_name) if args.tls != "none" else None

    if args.stall:
        async def stall(reader, writer):
            print("CONNECTED", flush=True)
            await stop
            writer.close()

        server = await asyncio.start_server(stall, "127.0.0.1", 0)
    else:
        handler = Recorder(args)
        TestSMTP.options = args
        mechanisms = {m.strip().upper() for m in args.auth_mechanisms.split(",") if m.strip()}
        excluded = [] if args.auth else ["PLAIN", "LOGIN"]
        excluded += [m for m in ("PLAIN", "LOGIN") if m not in mechanisms]

        def factory():
            return TestSMTP(
                handler,
                hostname="parley-test.local",
                data_size_limit=args.size_limit or None,
                tls_context=tls_context if args.tls == "starttls" else None,
                authenticator=make_authenticator(args),
                auth_exclude_mechanism=excluded,
                auth_require_tls=args.auth_require_tls,
                auth_required=args.auth_required,
            )

        server = await loop.create_server(
            factory, "127.0.0.1", 0, ssl=tls_context if args.tls == "implicit" else None
        )

    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    try:
        await stop
    finally:
        server.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
