"""The command line's API commands (run.py): `api-client register|list|rotate|revoke` for
administrators on the portal's machine, and `api-call`, which signs one request with a
client's key as a client system would (services/api_clients.sign) and prints the answer."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from portal.config import Settings
from portal.db import configure
from portal.i18n import translate
from portal.migrations import migrate
from portal.services import api_clients
from portal.services.errors import DomainError, NotFound, ValidationError


def add_parsers(sub) -> None:
    """The subcommands, added to run.py's parser."""
    s = sub.add_parser("api-client", help="register, list, rotate or revoke API clients")
    actions = s.add_subparsers(dest="action", required=True, metavar="ACTION")
    r = actions.add_parser("register", help="register a client; prints its key and secret")
    r.add_argument("--name", required=True)
    r.add_argument("--scope", action="append", required=True, choices=sorted(api_clients.SCOPES),
                   help="a scope it may use (repeat for several)")
    r.add_argument("--rate-limit", type=int,
                   help="requests a minute (default PORTAL_API_RATE_LIMIT)")
    actions.add_parser("list", help="list the clients")
    for name, what in (("rotate", "give a client a new secret (printed once)"),
                       ("revoke", "revoke a client for good")):
        a = actions.add_parser(name, help=what)
        a.add_argument("key", help="the client's key id")
    s.set_defaults(func="api_client")
    c = sub.add_parser("api-call", help="send one signed request to the API and print the answer")
    c.add_argument("method", help="GET, POST, ...")
    c.add_argument("path", help="e.g. /api/v1/procedures?page=1")
    c.add_argument("--key", required=True, help="the client's key id")
    c.add_argument("--body", type=Path, help="a file whose bytes are the body (JSON)")
    c.add_argument("--header", action="append", default=[], help="an extra header, Name: value")
    c.add_argument("--url", help="the portal's address (default PORTAL_BASE_URL)")
    c.set_defaults(func="api_call")


def api_client(args: argparse.Namespace, settings: Settings) -> None:
    configure(settings)
    migrate()
    try:
        if args.action == "register":
            client, secret = api_clients.register(settings.secret_key, args.name, args.scope,
                                                  args.rate_limit)
            _print_secret(client, secret)
        elif args.action == "rotate":
            client, secret = api_clients.rotate(settings.secret_key, args.key)
            _print_secret(client, secret)
        elif args.action == "revoke":
            client = api_clients.revoke(args.key)
            print(f"revoked {client.key_id} ({client.name})")
        else:
            for c in api_clients.clients():
                state = f"revoked {c.revoked_at:%Y-%m-%d}" if c.revoked_at else "active"
                limit = c.rate_limit or settings.api_rate_limit
                print(f"{c.key_id}  {state:<18} {limit:>6}/min  {c.scopes}  {c.name}")
    except ValidationError as exc:
        sys.exit("; ".join(f"{k}: {translate(m)}" for k, m in exc.errors.items()))
    except NotFound:
        sys.exit(f"no client with the key {args.key}")
    except DomainError as exc:
        sys.exit(translate(exc.message))


def _print_secret(client, secret: str) -> None:
    print(f"key:    {client.key_id}\nsecret: {secret}\nscopes: {client.scopes}")
    print("The secret is shown only now: the portal keeps it encrypted.", file=sys.stderr)


def api_call(args: argparse.Namespace, settings: Settings) -> None:
    """Sign and send; the secret comes from PORTAL_API_CLIENT_SECRET, else (on the portal's
    own machine) from the database."""
    secret = os.environ.get("PORTAL_API_CLIENT_SECRET", "")
    if not secret:
        configure(settings)
        try:
            secret = api_clients.secret_of(settings.secret_key, args.key)
        except (NotFound, DomainError):
            sys.exit(f"no active client with the key {args.key}")
    body = args.body.read_bytes() if args.body else b""
    method = args.method.upper()
    headers = api_clients.sign(secret, method, args.path, body, key_id=args.key)
    if body:
        headers["Content-Type"] = "application/json"
    for line in args.header:
        name, _, value = line.partition(":")
        headers[name.strip()] = value.strip()
    base = (args.url or settings.base_url).rstrip("/")
    request = urllib.request.Request(base + args.path, data=body or None, method=method,
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            status, text = answer.status, answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode("utf-8", "replace")
    print(status, file=sys.stderr)
    try:
        print(json.dumps(json.loads(text), ensure_ascii=False, indent=2))
    except ValueError:
        print(text)
    if status >= 400:
        sys.exit(1)
