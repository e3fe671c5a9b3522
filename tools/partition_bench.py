"""How fast orders applies a backlog spread over 3 partitions, for several builds
side by side, optionally with emulated network latency to MongoDB.

Against a running local stack (`./dev up`), with the outside-check virtualenv
(pymongo, confluent-kafka):

    python tools/partition_bench.py --bin before=/path/orders-domain \
        --bin after=$CARGO_TARGET_DIR/release/orders-domain --delay-ms 2

Fills a fresh 3-partition topic with CUSTOMERS x VERSIONS change events (keyed
by customer id), then for each repetition and each build starts the build on a
fresh database and consumer group and measures the time from the process start
until its `projector_events_total` reaches the number of events (the replica is
then checked with pymongo). With --delay-ms, MongoDB is reached through a proxy
in this script that holds every client-to-server chunk for that long: the round
trip of a remote database, which the local server's own speed hides.
"""
import argparse
import asyncio
import copy
import json
import os
import statistics
import subprocess
import threading
import time
import urllib.request
import uuid

import pymongo
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

SAMPLE = os.path.join(os.path.dirname(__file__), "..", "shared-events", "samples", "customer-updated.json")


def start_delay_proxy(listen, target, delay):
    """Forwards 127.0.0.1:listen to target, delaying client-to-server data."""

    async def pipe(reader, writer, wait):
        try:
            while data := await reader.read(65536):
                if wait:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def handle(client_reader, client_writer):
        server_reader, server_writer = await asyncio.open_connection(*target)
        await asyncio.gather(pipe(client_reader, server_writer, delay),
                             pipe(server_reader, client_writer, 0))

    async def serve(ready):
        server = await asyncio.start_server(handle, "127.0.0.1", listen)
        ready.set()
        async with server:
            await server.serve_forever()

    ready = threading.Event()
    threading.Thread(target=lambda: asyncio.run(serve(ready)), daemon=True).start()
    ready.wait(10)


def fill(brokers, topic, customers, versions):
    admin = AdminClient({"bootstrap.servers": brokers})
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result()
    sample = json.load(open(SAMPLE))
    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 5})
    for version in range(1, versions + 1):
        for c in range(customers):
            event = copy.deepcopy(sample)
            customer = f"pb-{c}"
            event["id"] = str(uuid.uuid4())
            event["subject"] = customer
            event["data"]["id"] = customer
            event["data"]["version"] = version
            if version == 1:
                event["type"] = "accounts.customer.created.v1"
            producer.produce(topic, key=customer, value=json.dumps(event))
            producer.poll(0)
    producer.flush()


def applied(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/actuator/prometheus", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return 0
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("projector_events_total{"))


def run(binary, args, topic, mongo_uri, port):
    database = "pb_" + uuid.uuid4().hex[:8]
    env = dict(os.environ, APP__KAFKA__BROKERS=args.brokers, APP__KAFKA__TOPIC=topic,
               APP__MONGODB__URI=mongo_uri, APP__MONGODB__DATABASE=database,
               APP__MONGODB__COLLECTION="customer_orders", APP__HTTP__PORT=str(port),
               APP__CONSUMER__GROUP_ID="g-" + database, APP__CONSUMER__FETCH_WAIT_MAX_MS="50",
               APP__LOG__FILTER="warn")
    events = args.customers * args.versions
    start = time.monotonic()
    process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL)
    try:
        while time.monotonic() < start + args.timeout:
            if applied(port) >= events:
                elapsed = time.monotonic() - start
                replica = pymongo.MongoClient(args.mongo)[database]["customer_orders_replica_1"]
                current = replica.count_documents({"version": args.versions})
                assert current == args.customers, f"{current} of {args.customers} customers current"
                return elapsed
            time.sleep(0.05)
        raise SystemExit(f"{binary} did not apply {events} events within {args.timeout} s")
    finally:
        process.terminate()
        process.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", action="append", required=True, metavar="NAME=PATH")
    parser.add_argument("--brokers", default="127.0.0.1:9092")
    parser.add_argument("--mongo", default="mongodb://127.0.0.1:27017/?directConnection=true")
    parser.add_argument("--delay-ms", type=float, default=0)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=3)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--port", type=int, default=18190)
    args = parser.parse_args()
    builds = dict(b.split("=", 1) for b in args.bin)
    mongo_uri = args.mongo
    if args.delay_ms:
        host, port = pymongo.uri_parser.parse_uri(args.mongo)["nodelist"][0]
        listen = args.port + 100
        start_delay_proxy(listen, (host, port), args.delay_ms / 1000)
        mongo_uri = f"mongodb://127.0.0.1:{listen}/?directConnection=true"
    topic = "bench.partitions." + uuid.uuid4().hex[:6]
    fill(args.brokers, topic, args.customers, args.versions)
    times = {name: [] for name in builds}
    for rep in range(args.reps):
        for name, binary in builds.items():
            times[name].append(run(binary, args, topic, mongo_uri, args.port + rep))
    events = args.customers * args.versions
    print(f"{events} events on 3 partitions, MongoDB delay {args.delay_ms} ms, {args.reps} repetitions")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name}: {[round(s, 2) for s in samples]} s, median {median:.2f} s, {events / median:.0f} events/s")
    names = list(times)
    if len(names) == 2:
        ratio = statistics.median(times[names[0]]) / statistics.median(times[names[1]])
        print(f"{names[1]} is {ratio:.2f}x as fast as {names[0]}")


if __name__ == "__main__":
    main()
