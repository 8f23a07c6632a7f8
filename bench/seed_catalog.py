"""Seeds a fresh tenant with N products, each stocked at one location, over GraphQL.

Usage: python3 bench/seed_catalog.py http://127.0.0.1:PORT/graphql N [--stock UNITS] [--ids]
Prints the owner's access token (and progress on stderr); with --ids, then one product id per
line. Each product gets UNITS in stock (default: 1 to 50, varying).
"""
import json
import sys
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor


def gql(endpoint, query, variables=None, token=None):
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(endpoint, body, {"content-type": "application/json"})
    if token:
        request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request) as response:
        answer = json.load(response)
    if answer.get("errors"):
        raise SystemExit(f"GraphQL error: {answer['errors']}")
    return answer["data"]


def main():
    endpoint, count = sys.argv[1], int(sys.argv[2])
    stock = int(sys.argv[sys.argv.index("--stock") + 1]) if "--stock" in sys.argv else None
    print_ids = "--ids" in sys.argv
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    registered = gql(endpoint, """mutation($slug: String!) { registerTenant(input: { name: "Bench", slug: $slug,
        currencyCode: "USD", ownerEmail: "owner@bench.test", ownerPassword: "correct horse battery staple" }) { accessToken } }""",
                     {"slug": slug})["registerTenant"]
    token = registered["accessToken"]
    location = gql(endpoint, 'mutation { createLocation(input: { code: "MAIN", name: "Main" }) { location { id } } }',
                   token=token)["createLocation"]["location"]["id"]

    def seed(n):
        created = gql(endpoint, """mutation($input: CreateProductInput!) { createProduct(input: $input) { product { id } userErrors { message } } }""",
                      {"input": {"sku": f"SKU-{n:06d}", "name": f"Product {n}", "description": "Seeded for benchmarks",
                                 "price": {"amount": f"{n % 100}.99", "currencyCode": "USD"}}}, token)["createProduct"]
        gql(endpoint, """mutation($input: ReceiveStockInput!) { receiveStock(input: $input) { userErrors { message } } }""",
            {"input": {"productId": created["product"]["id"], "locationId": location, "quantity": stock or 1 + n % 50}}, token)
        return created["product"]["id"]

    ids = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        for done, product in enumerate(pool.map(seed, range(count)), start=1):
            ids.append(product)
            if done % 2000 == 0:
                print(f"seeded {done} products", file=sys.stderr)
    print(token)
    if print_ids:
        print("\n".join(ids))


if __name__ == "__main__":
    main()
