#!/usr/bin/env python3
"""A check of the platform from outside, with clients the project did not write.

It runs the local servers and both services by hand, as a user would (not
through devstack or the Rust test harness), writes 1000 changes over 200
customers through the accounts API while it SIGKILLs and restarts the broker
three times (same command line, same working directory), then SIGKILLs and
restarts the orders service once, and then:

- reads both databases with pymongo and polls until every customer of accounts
  is in the orders replica with the same name, contact, addresses and version,
  timing it from the orders restart;
- reads the change topic from offset 0 with confluent-kafka and checks that
  every accepted change (customer, version) is in it.

Topics are created with confluent-kafka's AdminClient with the project's
event-store settings. Prints one `OUTSIDE CHECK` line; exits non-zero on a
rejected write, a lost or divergent customer, or a missing event.

Run it with `./dev outside-check` (which builds the services and installs the
Python clients into a cached virtualenv).
"""

import argparse
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from pymongo import MongoClient

TOPIC = "accounts.customer.change"
RETENTION_FOREVER_MS = "9223372036854775807"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, probe, within):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            result = probe()
            if result:
                return result
        except Exception:  # noqa: BLE001 - a probe that fails is retried
            pass
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


class Process:
    """A child process started from a fixed command line and directory."""

    def __init__(self, name, argv, cwd, env, log_dir):
        self.name, self.argv, self.cwd, self.env = name, argv, cwd, env
        self.log = open(os.path.join(log_dir, f"{name}.log"), "ab")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            self.argv, cwd=self.cwd, env=self.env, stdout=self.log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def http(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def customer(seed, i, customers):
    body = json.loads(json.dumps(seed))
    body["id"] = f"o-{i % customers:04d}"
    body["name"]["lastName"] = f"L{i}"
    body["contact"]["email"] = f"c{i}@example.com"
    return body


def write(accounts_url, seed, changes, customers, counts):
    """Posts each change until accepted; a 4xx other than 409 is a rejection."""
    def one(i):
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = http("POST", f"{accounts_url}/accounts/customer/create",
                                 customer(seed, i, customers))
            except OSError:
                status = None
            if status in (200, 201):
                return True
            if status is not None and 400 <= status < 500 and status != 409:
                counts["rejected"] += 1
                return False
            if time.monotonic() > deadline:
                counts["rejected"] += 1
                return False
            time.sleep(0.1)

    with ThreadPoolExecutor(8) as pool:
        accepted = sum(pool.map(one, changes))
    counts["accepted"] += accepted


def compare(mongo):
    accounts = {d["_id"]: d for d in mongo["accounts"]["customer_accounts"].find(
        {}, {"version": 1, "name": 1, "contact": 1, "addresses": 1})}
    pointer = mongo["orders"]["customer_orders_meta"].find_one({"_id": "customer-replica"})
    replica = {}
    if pointer:
        replica = {d["_id"]: d for d in mongo["orders"][pointer["collection"]].find(
            {}, {"version": 1, "name": 1, "contact": 1, "addresses": 1})}
    lost = sum(1 for i in accounts if i not in replica)
    divergent = sum(1 for i, a in accounts.items() if i in replica and any(
        a.get(f) != replica[i].get(f) for f in ("version", "name", "contact", "addresses")))
    return len(accounts), lost, divergent


def topic_events(brokers, partitions):
    """(customer id, version) of every record, read from offset 0."""
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": f"outside-{time.time()}",
                         "enable.auto.commit": False, "auto.offset.reset": "error"})
    ends = {}
    for p in range(partitions):
        low, high = consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)
        ends[p] = high
    consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(partitions)])
    events, first, read = set(), {}, {p: 0 for p in ends}
    deadline = time.monotonic() + 120
    while any(read[p] < ends[p] for p in ends) and time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is None or message.error():
            continue
        first.setdefault(message.partition(), message.offset())
        read[message.partition()] = message.offset() + 1
        data = json.loads(message.value())["data"]
        events.add((data["id"], data["version"]))
    consumer.close()
    return events, first, ends, read


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--tansu", required=True)
    parser.add_argument("--nx-27017", required=True)
    parser.add_argument("--seed", required=True)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--customers", type=int, default=200)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="outside-check-")
    kafka_dir = os.path.join(work, "kafka")
    os.makedirs(kafka_dir)
    kafka_port, mongo_port = free_port(), free_port()
    accounts_port, orders_port = free_port(), free_port()
    brokers = f"127.0.0.1:{kafka_port}"
    mongo_uri = f"mongodb://127.0.0.1:{mongo_port}/?directConnection=true"
    listener = f"tcp://{brokers}"
    env = dict(os.environ, RUST_LOG="warn")
    broker = Process("tansu", [args.tansu, "broker", "--listener-url", listener,
                               "--advertised-listener-url", listener,
                               "--storage-engine", "sqlite://tansu.db"], kafka_dir, env, work)
    mongo = Process("nx-27017", [args.nx_27017, "--host", "127.0.0.1", "--port",
                                 str(mongo_port), "--data-dir", os.path.join(work, "mongo")],
                    work, env, work)

    # Both services share one key-encryption key, new for this run.
    kek = base64.b64encode(os.urandom(32)).decode()

    def service(name, port, collection):
        service_env = dict(env, APP__HTTP__PORT=str(port), APP__MONGODB__URI=mongo_uri,
                           APP__CRYPTO__KEK=kek,
                           APP__MONGODB__COLLECTION=collection, APP__KAFKA__BROKERS=brokers,
                           APP__CONSUMER__FETCH_WAIT_MAX_MS="50", APP__LOG__FILTER="warn",
                           # As ./dev up sets it: static membership of the one
                           # orders instance.
                           APP__CONSUMER__INSTANCE_ID="orders-local-0")
        return Process(name, [os.path.join(args.bin_dir, name)], work, service_env, work)

    accounts = service("accounts-domain", accounts_port, "customer_accounts")
    orders = service("orders-domain", orders_port, "customer_orders")
    everything = [orders, accounts, broker, mongo]
    try:
        os.makedirs(os.path.join(work, "mongo"))
        mongo.start()
        broker.start()
        admin = AdminClient({"bootstrap.servers": brokers})
        wait_for("the broker", lambda: admin.list_topics(timeout=2) is not None, 60)
        topics = [NewTopic(t, 3, 1, config={"retention.ms": RETENTION_FOREVER_MS,
                                            "cleanup.policy": "delete"})
                  for t in (TOPIC, TOPIC + ".DLT")]
        # The keys and state topics, compacted (tansu creates no topic by itself).
        topics += [NewTopic(t, 3, 1, config={"retention.ms": RETENTION_FOREVER_MS,
                                             "cleanup.policy": "compact"})
                   for t in ("accounts.customer.keys", "accounts.customer.state")]
        for future in admin.create_topics(topics).values():
            future.result()
        for svc, port in ((accounts, accounts_port), (orders, orders_port)):
            svc.start()
            wait_for(svc.name, lambda port=port: http(
                "GET", f"http://127.0.0.1:{port}/actuator/health")[0] == 200, 60)

        seed = json.load(open(args.seed))
        accounts_url = f"http://127.0.0.1:{accounts_port}"
        counts = {"accepted": 0, "rejected": 0}
        burst = args.changes // 4
        write(accounts_url, seed, range(0, burst), args.customers, counts)
        for round_ in range(1, 4):
            broker.kill()
            write(accounts_url, seed, range(round_ * burst, (round_ + 1) * burst),
                  args.customers, counts)
            broker.start()
            wait_for("the broker", lambda: admin.list_topics(timeout=2) is not None, 60)
        orders.kill()
        orders.start()
        restarted = time.monotonic()
        wait_for("orders", lambda: http(
            "GET", f"http://127.0.0.1:{orders_port}/actuator/health")[0] == 200, 60)

        client = MongoClient(mongo_uri)
        result = (0, -1, -1)
        while time.monotonic() - restarted < 120:
            result = compare(client)
            if result[1] == 0 and result[2] == 0:
                break
            time.sleep(0.5)
        converged = time.monotonic() - restarted
        customers, lost, divergent = result
        accepted_events = {(d["_id"], d["version"]) for d in
                           client["accounts"]["customer_accounts"].find({}, {"version": 1})}
        events, first, ends, read = topic_events(brokers, 3)
        # Every accepted version of every customer, 1..version, is on the topic.
        expected = {(i, v) for i, top in accepted_events for v in range(1, top + 1)}
        missing = len(expected - events)
        print(f"OUTSIDE CHECK: changes={counts['accepted']} rejected={counts['rejected']} "
              f"customers={customers} broker_kills=3 orders_kills=1 lost={lost} "
              f"divergent={divergent} converged_after_orders_restart={converged:.1f}s "
              f"events_on_topic={len(events)} events_missing={missing} "
              f"first_offsets={first} ends={ends}")
        ok = (counts["rejected"] == 0 and lost == 0 and divergent == 0 and missing == 0
              and counts["accepted"] == args.changes and customers == args.customers
              and converged <= 60 and all(o == 0 for o in first.values()))
        return 0 if ok else 1
    finally:
        for process in everything:
            process.stop()
        print(f"logs and data: {work}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
