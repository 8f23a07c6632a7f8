"""Webhook delivery, measured from outside: the delay from a placeOrder's commit to the receipt of
its order.placed webhook, and how many deliveries per second one worker drains from a backlog.

Usage:
  python3 bench/webhook_delay.py delay HTTP_PORT TOKEN PRODUCT_ID RECEIVER_PORT [COUNT]
      registers an endpoint at http://127.0.0.1:RECEIVER_PORT/hook, places COUNT orders one at a
      time (each after a random 0-300 ms pause, so placements do not line up with the worker's
      polling) and times each from the mutation's answer (after its commit) to the webhook naming
      the order. Prints p50, p90, p99 and max in milliseconds.
  python3 bench/webhook_delay.py backlog HTTP_PORT TOKEN PRODUCT_ID RECEIVER_PORT COUNT
      registers an endpoint and places COUNT orders as fast as one client can (the server runs
      without a worker), then exits: the deliveries wait in the queue.
  python3 bench/webhook_delay.py drain RECEIVER_PORT COUNT
      receives until COUNT distinct webhook-ids arrived and prints deliveries per second from
      the first to the last.
The receiver is Python's threading HTTP server answering 204; signatures are not verified here
(the end-to-end tests verify them with the standardwebhooks crate).
"""
import json
import random
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

arrivals = {}
ids = set()
lock = threading.Lock()


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        now = time.perf_counter()
        event = json.loads(body)
        with lock:
            ids.add(self.headers["webhook-id"])
            if event["type"] == "order.placed":
                arrivals.setdefault(event["data"]["orderId"], now)
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def serve(port):
    server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def gql(port, token, query):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", json.dumps({"query": query}).encode(),
                                     {"content-type": "application/json", "authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def register(port, token, receiver_port):
    answer = gql(port, token, 'mutation { createWebhookEndpoint(input: { url: "http://127.0.0.1:%d/hook", '
                 'eventTypes: ["order.placed"] }) { endpoint { id } userErrors { message } } }' % receiver_port)
    payload = answer["data"]["createWebhookEndpoint"]
    assert payload["endpoint"], payload


def place(port, token, product):
    answer = gql(port, token, 'mutation { placeOrder(input: { lines: [{ productId: "%s", quantity: 1 }], '
                 'customerEmail: "bench@example.test" }) { order { id } } }' % product)
    return answer["data"]["placeOrder"]["order"]["id"]


def uuid_of(global_id):
    import base64
    raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
    hex_ = raw.split(":")[1]
    return f"{hex_[:8]}-{hex_[8:12]}-{hex_[12:16]}-{hex_[16:20]}-{hex_[20:]}"


def delay(http_port, token, product, receiver_port, count):
    serve(receiver_port)
    register(http_port, token, receiver_port)
    delays = []
    for _ in range(count):
        time.sleep(random.uniform(0, 0.3))
        order = uuid_of(place(http_port, token, product))
        committed = time.perf_counter()
        deadline = committed + 15
        while True:
            with lock:
                arrived = arrivals.pop(order, None)
            if arrived is not None:
                break
            if time.perf_counter() > deadline:
                raise SystemExit(f"order {order} never arrived at the receiver")
            time.sleep(0.001)
        delays.append((arrived - committed) * 1000)
    delays.sort()
    pick = lambda q: delays[min(len(delays) - 1, int(q * len(delays)))]
    print(f"{len(delays)} orders: commit to webhook receipt p50 {pick(0.5):.1f} ms, p90 {pick(0.9):.1f} ms, "
          f"p99 {pick(0.99):.1f} ms, max {delays[-1]:.1f} ms")


def backlog(http_port, token, product, receiver_port, count):
    # Only this endpoint: the delay run's receiver is gone, and its retries would share the worker.
    listed = gql(http_port, token, "{ webhookEndpoints(first: 100) { nodes { id } } }")
    for node in listed["data"]["webhookEndpoints"]["nodes"]:
        gql(http_port, token, 'mutation { deleteWebhookEndpoint(input: { endpointId: "%s" }) { deletedEndpointId } }'
            % node["id"])
    register(http_port, token, receiver_port)
    for _ in range(count):
        place(http_port, token, product)


def drain(receiver_port, count):
    serve(receiver_port)
    first = None
    deadline = time.perf_counter() + 600
    while True:
        with lock:
            received = len(ids)
        if received and first is None:
            first = time.perf_counter()
        if received >= count:
            break
        if time.perf_counter() > deadline:
            raise SystemExit(f"only {received} of {count} deliveries arrived")
        time.sleep(0.001)
    elapsed = time.perf_counter() - first
    print(f"{count} deliveries drained in {elapsed:.2f} s: {count / elapsed:.0f} deliveries/s")


mode = sys.argv[1]
if mode == "delay":
    delay(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]) if len(sys.argv) > 6 else 200)
elif mode == "backlog":
    backlog(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
elif mode == "drain":
    drain(int(sys.argv[2]), int(sys.argv[3]))
else:
    raise SystemExit(__doc__)
