#!/usr/bin/env python3
"""Send server-to-server events to UnMoGrowP, signed with an S2S key.

Standard library only (Python 3.9+). The signature is the hex HMAC-SHA256 of the exact bytes of
the request body under the key's secret, sent as ``X-Signature: sha256=<hex>`` beside
``X-Key-Id`` (create a key with ``POST /api/v1/apps/{app_id}/keys``; its ``secret`` is shown
once).

Examples::

    # one purchase, from arguments
    python3 examples/s2s_events.py --url http://127.0.0.1:8080 --key-id KEY_ID --secret sk_... \\
        --type event --name purchase --gaid 38400000-8cf0-11bd-b23e-10b96e40000d \\
        --revenue 9.99 --currency EUR

    # a file holding {"events": [...]} (or a bare list), '-' for stdin
    python3 examples/s2s_events.py --url ... --key-id ... --secret ... --file events.json

The secret can also come from the environment (UNMOGROWP_S2S_SECRET) so that it stays out of
shell history. Prints the server's answer (accepted, duplicates, rejected) and exits 0 when
the request succeeded, 1 when the server refused it (the problem document is printed), 2 on a
usage error. Retries on 429/503 honouring Retry-After, at most --retries times; a retry is
safe, since an event id counts once.
"""

import argparse
import datetime
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid


def sign(secret: str, body: bytes) -> str:
    """The X-Signature header value for ``body``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def event_from_args(args: argparse.Namespace) -> dict:
    event = {
        "id": args.id or str(uuid.uuid4()),
        "type": args.type,
        "timestamp": args.timestamp
        or datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    if args.name:
        event["name"] = args.name
    device = {}
    for field in ("gaid", "idfa", "idfv", "install_id", "ip", "user_agent"):
        value = getattr(args, field)
        if value:
            device[field] = value
    if device:
        event["device"] = device
    if args.link_id:
        event["link_id"] = args.link_id
    if args.revenue is not None:
        if not args.currency:
            raise SystemExit("usage error: --revenue needs --currency (ISO 4217, e.g. EUR)")
        event["revenue"] = {"amount": args.revenue, "currency": args.currency}
    return event


def load_events(path: str) -> list:
    text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    data = json.loads(text)
    events = data.get("events") if isinstance(data, dict) else data
    if not isinstance(events, list):
        raise SystemExit("usage error: the file must hold {\"events\": [...]} or a list of events")
    return events


def send(url: str, key_id: str, secret: str, events: list, retries: int, timeout: float):
    body = json.dumps({"events": events}, separators=(",", ":")).encode("utf-8")
    request = urllib.request.Request(
        url.rstrip("/") + "/v1/s2s/events",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Key-Id": key_id,
            "X-Signature": sign(secret, body),
        },
    )
    attempt = 0
    while True:
        attempt += 1
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            payload = error.read()
            if error.code in (429, 503) and attempt <= retries:
                wait = float(error.headers.get("Retry-After") or 1)
                time.sleep(min(wait, 30))
                continue
            try:
                return error.code, json.loads(payload)
            except ValueError:
                return error.code, {"detail": payload.decode("utf-8", "replace")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8080")
    parser.add_argument("--key-id", required=True, help="the S2S key's id")
    parser.add_argument("--secret", default=os.environ.get("UNMOGROWP_S2S_SECRET"),
                        help="the key's secret (default: $UNMOGROWP_S2S_SECRET)")
    parser.add_argument("--file", help="JSON events to send ('-' for stdin) instead of one built from flags")
    parser.add_argument("--id", help="the event id (default: a fresh UUID)")
    parser.add_argument("--type", default="event",
                        choices=["install", "open", "session", "event", "click", "impression"])
    parser.add_argument("--name", help="the in-app event's name, e.g. purchase")
    parser.add_argument("--timestamp", help="RFC 3339 (default: now)")
    for field in ("gaid", "idfa", "idfv", "install-id", "ip", "user-agent", "link-id"):
        parser.add_argument(f"--{field}")
    parser.add_argument("--revenue", type=float)
    parser.add_argument("--currency")
    parser.add_argument("--retries", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    if not args.secret:
        parser.error("--secret (or UNMOGROWP_S2S_SECRET) is required")
    events = load_events(args.file) if args.file else [event_from_args(args)]
    status, answer = send(args.url, args.key_id, args.secret, events, args.retries, args.timeout)
    print(json.dumps(answer, indent=2))
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
