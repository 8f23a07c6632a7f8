"""Measures the delay from a placeOrder's commit to its order.placed message on a subscription.

Usage: python3 bench/subscription_delay.py HTTP_PORT WS_PORT TOKEN PRODUCT_ID [COUNT]
Subscribes to orderEvents over graphql-transport-ws at ws://127.0.0.1:WS_PORT/graphql/ws, then
places COUNT orders one at a time through http://127.0.0.1:HTTP_PORT/graphql, each after a random
pause of 0-300 ms (so placements do not line up with the server's polling), and times each from
the mutation's answer (the commit happened before it) to the message naming the order. Prints
p50, p90, p99 and max in milliseconds. Needs the `websockets` package (pip install websockets).
"""
import asyncio
import json
import random
import sys
import time
import urllib.request

import websockets


def place(port, token, product):
    query = 'mutation { placeOrder(input: { lines: [{ productId: "%s", quantity: 1 }], customerEmail: "bench@example.test" }) { order { id } } }' % product
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", json.dumps({"query": query}).encode(),
                                     {"content-type": "application/json", "authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)["data"]["placeOrder"]["order"]["id"]


async def main():
    http_port, ws_port, token, product = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    count = int(sys.argv[5]) if len(sys.argv) > 5 else 200
    url = f"ws://127.0.0.1:{ws_port}/graphql/ws"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
        ack = json.loads(await socket.recv())
        assert ack["type"] == "connection_ack", ack
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
            "query": "subscription { orderEvents { type orderId } }"}}))
        arrived = {}

        async def listen():
            async for raw in socket:
                message = json.loads(raw)
                if message.get("type") == "next":
                    event = message["payload"]["data"]["orderEvents"]
                    if event["type"] == "order.placed":
                        arrived[event["orderId"]] = time.perf_counter()

        listener = asyncio.create_task(listen())
        delays = []
        loop = asyncio.get_running_loop()
        for _ in range(count):
            await asyncio.sleep(random.uniform(0, 0.3))
            order = await loop.run_in_executor(None, place, http_port, token, product)
            committed = time.perf_counter()
            deadline = committed + 10
            while order not in arrived:
                if time.perf_counter() > deadline:
                    raise SystemExit(f"order {order} never arrived on the subscription")
                await asyncio.sleep(0.001)
            delays.append((arrived.pop(order) - committed) * 1000)
        listener.cancel()
    delays.sort()
    pick = lambda q: delays[min(len(delays) - 1, int(q * len(delays)))]
    print(f"{len(delays)} orders: commit to subscription message p50 {pick(0.5):.1f} ms, "
          f"p90 {pick(0.9):.1f} ms, p99 {pick(0.99):.1f} ms, max {delays[-1]:.1f} ms")


asyncio.run(main())
