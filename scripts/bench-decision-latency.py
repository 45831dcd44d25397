#!/usr/bin/env python3
"""Time from an install's acknowledgement to its decision being readable.

Starts `unmogrowp serve` (release build) on loopback with a fresh data dir, registers an app
and a tracking link, then for N installs (each after a click from its device): sends the
install to /v1/events, and polls /api/v1/apps/{app}/installs/{id} until the decision is
there. Prints p50/p99/max of the acknowledgement-to-decision time. Bounded: N installs, a
10 s deadline per install.

    scripts/bench-decision-latency.py [N]
"""
import json, os, shutil, subprocess, sys, tempfile, time, urllib.request

N = int(sys.argv[1]) if len(sys.argv) > 1 else 300
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/unmogrowp-target")), "release", "unmogrowp")
PORT = 18281
BASE = f"http://127.0.0.1:{PORT}"


def call(method, path, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, data=data, method=method, headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None


def main():
    data_dir = tempfile.mkdtemp(prefix="unmogrowp-latency.")
    server = subprocess.Popen([BIN, "serve", "--addr", f"127.0.0.1:{PORT}", "--data-dir", data_dir],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                if call("GET", "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        _, login = call("POST", "/api/v1/auth/register", {"email": "lat@example.com", "password": "latency passphrase 1", "name": "L", "organization": "L"})
        auth = {"authorization": "Bearer " + login["access_token"]}
        _, app = call("POST", "/api/v1/apps", {"name": "L", "platform": "android", "bundle_id": "com.example.l",
                                               "store_url": "https://play.google.com/store/apps/details?id=com.example.l"}, auth)
        _, link = call("POST", f"/api/v1/apps/{app['id']}/links", {"network": "meta", "campaign": "latency"}, auth)
        click_path = link["click_url"].replace(BASE, "")
        times = []
        for i in range(N):
            try:
                urllib.request.urlopen(urllib.request.Request(f"{BASE}{click_path}?gaid=lat-{i}"), timeout=10)
            except urllib.error.HTTPError:
                pass
            except urllib.error.URLError:
                pass
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 30))
            event = {"id": f"lat-install-{i}", "type": "install", "timestamp": stamp, "device": {"gaid": f"lat-{i}"}}
            status, _ = call("POST", "/v1/events", {"events": [event]}, {"x-app-token": app["app_token"]})
            acknowledged = time.perf_counter()
            assert status == 200
            deadline = acknowledged + 10
            while time.perf_counter() < deadline:
                status, decision = call("GET", f"/api/v1/apps/{app['id']}/installs/lat-install-{i}", None, auth)
                if status == 200 and decision["status"] != "pending":
                    times.append(time.perf_counter() - acknowledged)
                    break
                time.sleep(0.002)
        times.sort()
        pick = lambda p: times[min(len(times) - 1, int((len(times) - 1) * p))] * 1000
        print(f"installs={len(times)}/{N} ack_to_decision_ms p50={pick(0.5):.1f} p99={pick(0.99):.1f} max={times[-1]*1000:.1f}")
    finally:
        server.terminate()
        server.wait(timeout=15)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
