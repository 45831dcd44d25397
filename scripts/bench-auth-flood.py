#!/usr/bin/env python3
"""Sign-ins under a flood of password work (loopback only, bounded in time).

Starts the release server on a fresh data dir, registers an owner, then measures the owner's
sign-ins (one at a time, for DURATION seconds) in three phases:

  baseline   nothing else running;
  one-ip     128 concurrent clients sending bogus password resets and registrations of new
             accounts, all from one address (the per-address limits answer them);
  many-ips   the same flood with every client on its own address (X-Forwarded-For from a
             trusted proxy), so only the hashing pool's fairness protects sign-ins.

Prints, per phase, sign-ins done, their median and p99 latency, and what the flood got back.

    scripts/bench-auth-flood.py [BINARY] [DURATION]   (defaults: the release build, 10 s)
    BENCH_BASELINE=1 scripts/bench-auth-flood.py OLD_BINARY   (a build without `limits.*`)
"""

import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

PORT = 18390
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/unmogrowp-target")),
    "release", "unmogrowp")
DURATION = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
FLOOD = 128
OWNER = {"email": "owner@example.com", "password": "correct horse battery staple 7"}


def post(path, body, headers=None, timeout=30):
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=timeout)
    try:
        connection.request("POST", path, json.dumps(body),
                           {"content-type": "application/json", **(headers or {})})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def sign_ins(stop_at):
    latencies = []
    statuses = Counter()
    while time.monotonic() < stop_at:
        started = time.monotonic()
        try:
            status = post("/api/v1/auth/login", OWNER, {"x-forwarded-for": "192.0.2.1"})
        except OSError:
            status = "error"
        latencies.append(time.monotonic() - started)
        statuses[status] += 1
    return latencies, statuses


def flooder(index, distinct, stop_at, results, lock):
    address = f"10.{index // 250}.{index % 250}.9" if distinct else "198.51.100.66"
    local = Counter()
    n = 0
    while time.monotonic() < stop_at:
        n += 1
        try:
            if n % 2:
                status = post("/api/v1/auth/reset-password",
                              {"token": f"bogus-{random.getrandbits(64)}",
                               "password": "a bogus but long password"},
                              {"x-forwarded-for": address})
                local[f"reset {status}"] += 1
            else:
                status = post("/api/v1/auth/register",
                              {"email": f"bot-{index}-{random.getrandbits(40)}@example.com",
                               "password": "a bogus but long password", "name": "Bot",
                               "organization": "Bots"},
                              {"x-forwarded-for": address})
                local[f"register {status}"] += 1
        except OSError:
            local["error"] += 1
    with lock:
        results.update(local)


def phase(name, flood, distinct=False):
    stop_at = time.monotonic() + DURATION
    results, lock = Counter(), threading.Lock()
    threads = [threading.Thread(target=flooder, args=(i, distinct, stop_at, results, lock))
               for i in range(FLOOD if flood else 0)]
    for thread in threads:
        thread.start()
    latencies, statuses = sign_ins(stop_at)
    for thread in threads:
        thread.join(timeout=60)
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")
    print(f"{name:9} sign-ins {sum(statuses.values()):5}  statuses {dict(statuses)}  "
          f"median {statistics.median(latencies) * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms")
    if flood:
        print(f"{'':9} flood: {dict(sorted(results.items()))}")


def main():
    work = tempfile.mkdtemp(prefix="unmogrowp-authflood.")
    # The owner signs in far more often than a person would: lift the sign-in limit only
    # (BENCH_BASELINE=1 for a build from before the limits, which does not know the setting).
    env = dict(os.environ, UNMOGROWP_LOG_LEVEL="error",
               UNMOGROWP_HTTP__TRUSTED_PROXIES='["127.0.0.1"]')
    if os.environ.get("BENCH_BASELINE") != "1":
        env.update(UNMOGROWP_LIMITS__LOGIN_BURST="1000000",
                   UNMOGROWP_LIMITS__LOGIN_PER_MINUTE="1000000")
    server = subprocess.Popen([BIN, "serve", "--addr", f"127.0.0.1:{PORT}", "--data-dir",
                               os.path.join(work, "data")], env=env)
    try:
        for _ in range(200):
            try:
                connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=1)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        status = post("/api/v1/auth/register", {**OWNER, "name": "Owner", "organization": "Acme"})
        assert status == 201, status
        print(f"binary {BIN}; {os.cpu_count()} CPUs; {FLOOD} flooding clients; {DURATION:.0f} s "
              "per phase")
        phase("baseline", flood=False)
        phase("one-ip", flood=True)
        phase("many-ips", flood=True, distinct=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
