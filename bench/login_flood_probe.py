"""The second client of bench/login_flood.sh: while the flood runs, asks `{ me { member { email } } }`
as a signed-in owner, one request at a time, and samples the server's memory.

Usage: python3 login_flood_probe.py ENDPOINT TOKEN PID SECONDS KILL_MB
Prints the probe's latencies (p50, p99, max), its errors, and the server's peak RSS (the largest
VmRSS sampled every 100 ms, and VmHWM at the end) and peak thread count. If VmRSS passes KILL_MB
the server is killed (SIGKILL) and that is reported, so a run of an unbounded build cannot take
the machine down with it.
"""

import http.client
import json
import os
import signal
import sys
import threading
import time
import urllib.parse


def status_fields(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            fields[name] = value.split()
    return fields


def sample_memory(pid, stop, kill_mb, peak):
    while not stop.is_set():
        try:
            fields = status_fields(pid)
        except OSError:
            return
        rss_kb = int(fields["VmRSS"][0])
        peak["rss_kb"] = max(peak["rss_kb"], rss_kb)
        peak["hwm_kb"] = int(fields["VmHWM"][0])
        peak["threads"] = max(peak["threads"], int(fields["Threads"][0]))
        if rss_kb > kill_mb * 1024:
            peak["killed_at"] = time.monotonic() - peak["started"]
            os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.1)


def percentile(sorted_values, fraction):
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, int(round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def main():
    endpoint, token, pid, seconds, kill_mb = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
    url = urllib.parse.urlsplit(endpoint)
    body = json.dumps({"query": "{ me { member { email } } }"})
    headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
    peak = {"rss_kb": 0, "hwm_kb": 0, "threads": 0, "killed_at": None, "started": time.monotonic()}
    stop = threading.Event()
    sampler = threading.Thread(target=sample_memory, args=(pid, stop, kill_mb, peak), daemon=True)
    sampler.start()

    latencies, errors, kinds = [], 0, {}
    connection = None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            if connection is None:
                connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
            connection.request("POST", url.path, body=body, headers=headers)
            response = connection.getresponse()
            answer = json.loads(response.read() or b"null") or {}
            me = (answer.get("data") or {}).get("me") or {}
            ok = response.status == 200 and (me.get("member") or {}).get("email")
            kind = "ok" if ok else f"HTTP {response.status} {json.dumps(answer.get('errors'))[:120]}"
        except Exception as err:  # a refused or reset connection is an error of the probe, counted
            kind = type(err).__name__
            connection = None
        latencies.append((time.monotonic() - started) * 1000)
        if kind != "ok":
            errors += 1
            kinds[kind] = kinds.get(kind, 0) + 1
            time.sleep(0.05)
    stop.set()
    sampler.join(timeout=1)

    ordered = sorted(latencies)
    print(f"me probe: {len(latencies)} requests, errors {errors} {kinds if kinds else ''}")
    print(f"me latency ms: p50 {percentile(ordered, 0.5):.1f}  p99 {percentile(ordered, 0.99):.1f}  max {ordered[-1] if ordered else float('nan'):.1f}")
    print(f"server peak: VmRSS sampled {peak['rss_kb'] / 1024:.1f} MiB, VmHWM {peak['hwm_kb'] / 1024:.1f} MiB, threads {peak['threads']}")
    if peak["killed_at"] is not None:
        print(f"server KILLED after {peak['killed_at']:.1f} s: VmRSS passed {kill_mb} MiB")


if __name__ == "__main__":
    main()
