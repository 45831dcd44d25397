#!/usr/bin/env python3
"""End-to-end pipeline benchmark against a running server (loopback only, bounded in time).

Called by scripts/bench-pipeline.sh, which starts the server and registers an app. Two phases:

1. Burst: wrk sends unique events in 100-event batches at full speed for BURST seconds while
   this script polls the summary report 4 times a second (as a dashboard does) and /metrics;
   then it keeps polling until every acknowledged event is counted (at most FOLLOW seconds).
   Prints the ingestion rate (acknowledged / sending time), the end-to-end rate (acknowledged /
   time from the first send until all are counted), their ratio, the peak pipeline lag and
   the server's peak RSS.
2. Steady load at half the measured end-to-end capacity for STEADY seconds: prints p50/p99 of
   acknowledgement -> counted in the summary (polled every 50 ms; a batch counts as visible
   once the summary counts at least as many events as had been acknowledged when its 200
   came back, so the figure is an upper bound within the poll interval) and acknowledgement
   -> message on /api/v1/live (a WebSocket client written with the standard library).

Counted events are the summary totals' installs + rejected_installs + reattributions +
reinstalls + sessions + events: every event type the benchmark sends, summed over the apps
(several apps spread the load over the log's partitions, so several workers share it).
"""

import argparse
import base64
import datetime
import http.client
import json
import os
import socket
import struct
import subprocess
import threading
import time


def summary_count(host, port, token, app_ids):
    return sum(app_count(host, port, token, app_id) for app_id in app_ids.split(","))


def app_count(host, port, token, app_id):
    today = datetime.datetime.now(datetime.timezone.utc).date()
    frm = (today - datetime.timedelta(days=1)).isoformat()
    to = (today + datetime.timedelta(days=1)).isoformat()
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.request(
        "GET",
        f"/api/v1/apps/{app_id}/reports/summary?from={frm}&to={to}",
        headers={"authorization": f"Bearer {token}"},
    )
    response = connection.getresponse()
    body = response.read()
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"summary answered {response.status}: {body[:200]!r}")
    totals = json.loads(body)["totals"]
    return sum(
        totals.get(key, 0)
        for key in ("installs", "rejected_installs", "reattributions", "reinstalls", "sessions", "events")
    )


def metrics(host, port):
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    connection.close()
    values = {}
    for line in text.splitlines():
        parts = line.split(" ")
        if len(parts) == 2 and not line.startswith("#"):
            try:
                values[parts[0]] = float(parts[1])
            except ValueError:
                pass
    return values


def percentile(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * p))]


def burst(args):
    host, port = args.host, args.port
    base_count = summary_count(host, port, args.token, args.app_id)
    base_accepted = metrics(host, port).get("ingest_events_accepted_total", 0.0)
    peak = {"lag": 0.0, "rss": 0.0}
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            try:
                summary_count(host, port, args.token, args.app_id)
                values = metrics(host, port)
                peak["lag"] = max(peak["lag"], values.get("pipeline_lag_records", 0.0))
                peak["rss"] = max(peak["rss"], values.get("process_resident_memory_bytes", 0.0))
            except OSError:
                pass
            stop.wait(0.25)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.monotonic()
    wrk = subprocess.run(
        ["wrk", "-t2", f"-c{args.connections}", f"-d{args.burst}s", "-s", args.lua,
         f"http://{host}:{port}", "--", *args.app_token.split(",")],
        capture_output=True, text=True, timeout=args.burst + 60, check=False,
    )
    sent_until = time.monotonic()
    if wrk.returncode != 0:
        raise RuntimeError(f"wrk failed: {wrk.stderr}")
    accepted = int(metrics(host, port).get("ingest_events_accepted_total", 0.0) - base_accepted)
    counted = 0
    deadline = time.monotonic() + args.follow
    while time.monotonic() < deadline:
        counted = summary_count(host, port, args.token, args.app_id) - base_count
        if counted >= accepted:
            break
        time.sleep(0.25)
    done = time.monotonic()
    stop.set()
    watcher.join()
    values = metrics(host, port)
    peak["rss"] = max(peak["rss"], values.get("process_resident_memory_bytes", 0.0))
    ingest_rate = accepted / (sent_until - started)
    end_to_end = counted / (done - started)
    complete = "" if counted >= accepted else f" INCOMPLETE: {counted} of {accepted} counted after {args.follow} s"
    print(
        f"burst: events={accepted} sending_s={sent_until - started:.2f} all_counted_s={done - started:.2f} "
        f"ingest_rate={ingest_rate:.0f}/s end_to_end={end_to_end:.0f}/s ratio={end_to_end / ingest_rate:.2f} "
        f"peak_lag_records={peak['lag']:.0f} peak_rss_mb={peak['rss'] / 1048576:.0f}{complete}",
        flush=True,
    )
    return end_to_end


class LiveClient:
    """A WebSocket client for /api/v1/live (RFC 6455 text frames, standard library only)."""

    def __init__(self, host, port, token):
        self.sock = socket.create_connection((host, port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (f"GET /api/v1/live HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
             f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise RuntimeError("the live endpoint closed during the handshake")
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise RuntimeError(f"the live endpoint refused the upgrade: {head[:200]!r}")
        self.send_text(json.dumps({"token": token}))

    def send_text(self, text):
        payload = text.encode()
        mask = os.urandom(4)
        header = bytes([0x81])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        else:
            header += bytes([0x80 | 126]) + struct.pack(">H", len(payload))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _need(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise EOFError
            self.buffer += chunk

    def messages(self):
        while True:
            self._need(2)
            opcode = self.buffer[0] & 0x0F
            length = self.buffer[1] & 0x7F
            offset = 2
            if length == 126:
                self._need(4)
                length = struct.unpack(">H", self.buffer[2:4])[0]
                offset = 4
            elif length == 127:
                self._need(10)
                length = struct.unpack(">Q", self.buffer[2:10])[0]
                offset = 10
            self._need(offset + length)
            payload = self.buffer[offset:offset + length]
            self.buffer = self.buffer[offset + length:]
            if opcode == 0x8:
                return
            if opcode == 0x1:
                yield payload


def steady(args, rate):
    host, port = args.host, args.port
    batch = 100
    requests_per_second = max(1.0, rate / batch)
    total_requests = int(requests_per_second * args.steady)
    acked_at = {}
    ack_log = []  # (ack time, events acknowledged so far)
    lock = threading.Lock()
    state = {"acked": 0}
    base_count = summary_count(host, port, args.token, args.app_id)
    live_latencies = []
    gaps = {"n": 0}
    live = LiveClient(host, port, args.token)
    ready = threading.Event()

    def listen():
        try:
            for payload in live.messages():
                now = time.monotonic()
                message = json.loads(payload)
                kind = message.get("type")
                if kind == "ready":
                    ready.set()
                    continue
                if kind == "gap":
                    gaps["n"] += 1
                    continue
                event_id = message.get("id", "")
                if event_id.startswith("st-"):
                    request = int(event_id.split("-")[1])
                    sent = acked_at.get(request)
                    if sent is not None:
                        live_latencies.append(max(0.0, now - sent))
        except (EOFError, OSError):
            pass

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    if not ready.wait(10):
        raise RuntimeError("the live feed did not become ready")

    visible = []
    polls = []
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            count = summary_count(host, port, args.token, args.app_id) - base_count
            polls.append((time.monotonic(), count))
            stop.wait(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()

    template_parts = []
    for i in range(batch):
        kind = '"type":"install"' if i % 10 == 0 else '"type":"session"'
        template_parts.append(
            '{"id":"st-%(r)d-' + str(i) + '","timestamp":"%(ts)s","device":{"gaid":"sd-%(r)d-' + str(i)
            + '","os":"android","country":"US"},' + kind + '}'
        )
    template = '{"events":[' + ",".join(template_parts) + ']}'
    senders = 4
    interval = senders / requests_per_second
    app_tokens = args.app_token.split(",")

    def send(worker):
        connection = http.client.HTTPConnection(host, port, timeout=30)
        start = time.monotonic()
        for k in range(worker, total_requests, senders):
            target = start + (k // senders) * interval
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            timestamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            body = template % {"r": k, "ts": timestamp}
            connection.request("POST", "/v1/events", body=body,
                               headers={"content-type": "application/json",
                                        "x-app-token": app_tokens[k % len(app_tokens)]})
            response = connection.getresponse()
            response.read()
            now = time.monotonic()
            if response.status == 200:
                acked_at[k] = now
                with lock:
                    state["acked"] += batch
                    ack_log.append((now, state["acked"]))
        connection.close()

    threads = [threading.Thread(target=send, args=(w,)) for w in range(senders)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent_for = time.monotonic() - began
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not polls or polls[-1][1] < state["acked"]):
        time.sleep(0.05)
    stop.set()
    poller.join()
    time.sleep(1.0)
    live.sock.close()
    for at, acked in ack_log:
        seen = next((t for t, count in polls if t >= at and count >= acked), None)
        if seen is not None:
            visible.append(seen - at)
    print(
        f"steady: target_rate={rate:.0f}/s achieved_rate={state['acked'] / sent_for:.0f}/s "
        f"batches={len(ack_log)} "
        f"ack_to_summary_p50_ms={percentile(visible, 0.5) * 1000:.0f} "
        f"ack_to_summary_p99_ms={percentile(visible, 0.99) * 1000:.0f} "
        f"(visible {len(visible)} of {len(ack_log)}) "
        f"ack_to_live_p50_ms={percentile(live_latencies, 0.5) * 1000:.0f} "
        f"ack_to_live_p99_ms={percentile(live_latencies, 0.99) * 1000:.0f} "
        f"live_messages={len(live_latencies)} live_gaps={gaps['n']}",
        flush=True,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True, help="access token of a member of the app's organization")
    parser.add_argument("--app-id", required=True, help="app ids, comma-separated")
    parser.add_argument("--app-token", required=True, help="the apps' tokens, in the same order")
    parser.add_argument("--lua", required=True)
    parser.add_argument("--burst", type=int, default=8, help="seconds of full-speed sending")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--follow", type=int, default=300, help="seconds to wait for the pipeline after the burst")
    parser.add_argument("--steady", type=int, default=20, help="seconds of steady load (0: skip)")
    args = parser.parse_args()
    capacity = burst(args)
    if args.steady > 0:
        steady(args, capacity / 2)


if __name__ == "__main__":
    main()
