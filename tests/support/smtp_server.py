#!/usr/bin/python3
"""A real SMTP server for driftwatch's tests (aiosmtpd, Debian's python3-aiosmtpd).

  smtp_server.py --mode starttls|tls --cert C --key K --user U --password P --maildir DIR

Listens on 127.0.0.1 on a free port, prints the port on the first line of stdout, requires
AUTH (only after TLS), and writes each accepted message to DIR/<n>.eml with the envelope in
DIR/<n>.json. Runs until killed.
"""
import argparse, json, os, socket, ssl, threading, warnings
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Store:
    def __init__(self, maildir):
        self.maildir, self.count, self.lock = maildir, 0, threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        base = os.path.join(self.maildir, str(n))
        with open(base + ".eml", "wb") as f:
            f.write(envelope.original_content)
        with open(base + ".json", "w") as f:
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                       "tls": session.ssl is not None,
                       "auth": session.authenticated}, f)
        return "250 OK"


def main():
    p = argparse.ArgumentParser()
    for a in ("--mode", "--cert", "--key", "--user", "--password", "--maildir"):
        p.add_argument(a, required=True)
    args = p.parse_args()
    # aiosmtpd's own deprecation and policy warnings are not the test's business.
    warnings.simplefilter("ignore")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == args.user \
            and auth_data.password.decode() == args.password
        return AuthResult(success=ok, handled=False)

    # aiosmtpd's Controller cannot listen on port 0: take a free port from the kernel first.
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    common = dict(hostname="127.0.0.1", port=port, authenticator=authenticator, auth_required=True)
    if args.mode == "starttls":
        ctl = Controller(Store(args.maildir), tls_context=ctx, require_starttls=True,
                         auth_require_tls=True, **common)
    else:
        # With implicit TLS the whole session is encrypted; aiosmtpd only knows STARTTLS as TLS.
        ctl = Controller(Store(args.maildir), ssl_context=ctx, auth_require_tls=False, **common)
    ctl.start()
    print(port, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
