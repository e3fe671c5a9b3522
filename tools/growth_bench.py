"""Whether a write's latency grows with the customer's history: many changes to one
customer, then many orders of one customer, against a running stack (`./dev up`).

    python3 tools/growth_bench.py [--accounts http://127.0.0.1:8080] \
        [--orders http://127.0.0.1:8085] [--changes 3000] [--orders-count 1000]

Sends the requests one after another over one keep-alive connection per service
and prints the median latency of windows of 100 requests at the start, middle
and end, and the ratio of the last window's median to the first's (the storage
issue's target: at most 1.2). Python's standard library only.
"""
import argparse
import http.client
import json
import os
import statistics
import time
import urllib.parse
import uuid

SEED = os.path.join(os.path.dirname(__file__), "..", "crates", "platform-testkit", "fixtures",
                    "seed-customer.json")
ORDER = {"orderItems": [{"product": {"guid": "p-1", "title": "Beans", "price": "9.5"},
                         "quantity": 1}]}
WINDOW = 100


class Client:
    def __init__(self, base):
        url = urllib.parse.urlsplit(base)
        self.connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)

    def request(self, method, path, body=None):
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload else {}
        started = time.perf_counter()
        self.connection.request(method, path, body=payload, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - started
        if response.status >= 300:
            raise SystemExit(f"{method} {path}: {response.status} {data[:300]!r}")
        return elapsed, (json.loads(data) if data else None)


def windows(latencies):
    """(first index, median ms) of windows at the start, quarter points and end."""
    n = len(latencies)
    starts = sorted({0, n // 3, 2 * n // 3, n - WINDOW})
    return [(s, statistics.median(latencies[s:s + WINDOW]) * 1000) for s in starts]


def report(what, latencies):
    rows = windows(latencies)
    for start, median in rows:
        print(f"  {what} {start}-{start + WINDOW}: median {median:.2f} ms")
    ratio = rows[-1][1] / rows[0][1]
    print(f"  {what}: last window / first window = {ratio:.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", default="http://127.0.0.1:8080")
    parser.add_argument("--orders", default="http://127.0.0.1:8085")
    parser.add_argument("--changes", type=int, default=3000)
    parser.add_argument("--orders-count", type=int, default=1000)
    args = parser.parse_args()
    customer = json.load(open(SEED))
    customer_id = "growth-" + uuid.uuid4().hex[:8]
    customer["id"] = customer_id
    accounts = Client(args.accounts)
    latencies = []
    for change in range(args.changes):
        customer["name"]["lastName"] = f"Iyer{change}"
        elapsed, _ = accounts.request("POST", "/accounts/customer/create", customer)
        latencies.append(elapsed)
    print(f"{args.changes} changes of customer {customer_id}, one after another:")
    report("changes", latencies)

    orders = Client(args.orders)
    deadline = time.monotonic() + 60
    while True:
        try:
            orders.request("GET", f"/orders/order/{customer_id}?minVersion={args.changes}")
            break
        except SystemExit:
            if time.monotonic() > deadline:
                raise
            orders = Client(args.orders)
    latencies = []
    for _ in range(args.orders_count):
        elapsed, _ = orders.request("POST", f"/orders/order/{customer_id}", ORDER)
        latencies.append(elapsed)
    print(f"{args.orders_count} orders of customer {customer_id}, one after another:")
    report("orders", latencies)


if __name__ == "__main__":
    main()
