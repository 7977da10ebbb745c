"""Hub fan-out: 4 producers x 10,000 events into one run, 100 viewers.

    python benchmarks/hub_fanout.py [--events 10000] [--producers 4] [--viewers 100]
                                    [--rate 2000] [--rounds 1] [--configs one,redis,two]
                                    [--count-only [--parse-every 20]] [--profile DIR]

Configurations (alternated round by round, medians reported):

- ``one``: one hub, memory-and-disk backend, all viewers on it;
- ``redis``: one hub on Redis Streams, all viewers on it;
- ``two``: two hubs on one Redis, half the viewers and half the producers on each.

Producers are separate processes using the plugin's own client (``HubProducer``: spool
on disk, numbered events, acks), each publishing ``--rate`` events a second in 20 ms
batches as pytest's publisher does (``--rate 0``: as fast as it can). Viewers are real
WebSocket clients, 25 per process; a viewer the hub closes for lagging (4008) reconnects
and resumes, as the browser viewer does. Each event carries the producer's send time;
latency is arrival minus that (same machine, same clock). Every viewer must receive all
events, each producer's in its order, none twice. Deliveries/s: events times viewers over
the time from the first event sent to the last viewer having all.

Viewers parse every frame (as a browser does), or with ``--count-only`` count events
without parsing them (``ViewerTally``), so that the hub's throughput is measured rather
than the viewers' on a small machine. ``--profile DIR`` records each hub with py-spy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from pytest_jbrealtime.shared.auth import TokenAuthority

SECRET = "benchmark-hub-secret-" + "h" * 40
VIEWERS_PER_PROCESS = 25
SAMPLE_EVERY = 10
# --count-only: every how many frames a viewer parses one in full (latency samples).
PARSE_EVERY = 20
BENCH_TYPE = "bench_event"


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) of this process, or of process ``pid``."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def authority() -> TokenAuthority:
    return TokenAuthority(SECRET, run_id=None)


# -- a producer process -------------------------------------------------------------------


def producer_main(args: argparse.Namespace) -> None:
    from pytest_jbrealtime.pytest_side.hub_link import producer_socket_url
    from pytest_jbrealtime.pytest_side.hub_producer import HubProducer
    from pytest_jbrealtime.pytest_side.hub_spool import Spool

    folder = Path(tempfile.mkdtemp(prefix="hub-bench-producer-"))
    producer = HubProducer(
        producer_socket_url(args.url), args.token, args.run, f"producer-{args.index}", {},
        Spool(folder / "spool.jsonl", 1 << 30), expected_shards=args.shards,
    )
    producer.start()
    batch_size = max(1, int(args.rate * 0.02)) if args.rate else 256
    start = time.monotonic()
    first_sent = time.time()
    sent = 0
    while sent < args.events:
        count = min(batch_size, args.events - sent)
        now = time.time()
        producer.send_batch([
            {"type": BENCH_TYPE, "p": args.index, "n": sent + i + 1, "sent": now,
             "ts": now} for i in range(count)])
        sent += count
        if args.rate:
            due = start + sent / args.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    producer.send_batch([{"type": "session_finished", "exit_status": 0, "duration": 0.0,
                          "total": 0, "counts": {}, "ts": time.time()}])
    delivered = producer.stop(120.0)
    print(json.dumps({"producer": args.index, "delivered": delivered, "first_sent": first_sent,
                      "seconds": time.monotonic() - start, "connects": producer.connects,
                      "cpu": cpu_seconds()}),
          flush=True)
    shutil.rmtree(folder, ignore_errors=True)


# -- a viewer process ----------------------------------------------------------------------


# Counting viewers take frames as bytes, not decoded (UTF-8 checked and copied to a str).
BATCH_PREFIX = b'{"type":"batch","count":'
BENCH_PREFIX = b'{"type":"' + BENCH_TYPE.encode() + b'","seq":'
SEQ_KEY = b'"seq":'


def first_seq(frame: bytes, start: int) -> int:
    """The seq of the event whose text starts at ``start`` (``{"type":"…","seq":N,``):
    the hub puts type then seq first in every event, and a string cannot hold an
    unescaped quote, so the first ``"seq":`` after ``start`` is that event's."""
    at = frame.index(SEQ_KEY, start) + len(SEQ_KEY)
    return int(frame[at:frame.index(b",", at)])


class ViewerTally:
    """What one viewer received, checked as it arrives.

    Parsing mode: every event is parsed (``json.loads`` of every frame), as a browser
    does. Counting mode (``--count-only``): a batch frame is counted from its header
    (the hub writes ``{"type":"batch","count":N,"messages":[…]}``), its first event's
    seq is read where the hub puts it, and its bench events are counted with one
    substring count (bench events hold no nested object, so ``{"type":"bench_event"``
    starts exactly one of them); seqs must follow on from frame to frame, so nothing is
    missing, twice or out of the hub's order. Every ``parse_every``-th frame is parsed
    in full anyway, for latency samples and each producer's order.
    """

    def __init__(self, producers: int, count_only: bool, parse_every: int) -> None:
        self.last = dict.fromkeys(range(producers), 0)
        # duplicates: a producer's event logged twice (under two seqs: the hub failed to
        # drop it); resent: seqs sent again after a reconnect, dropped as LiveClient does.
        self.got = self.duplicates = self.resent = self.out_of_order = self.gaps = 0
        self.samples: list[float] = []
        self.run_id: str | None = None
        self.last_seq = 0
        self.frames = 0
        self.count_only = count_only
        self.parse_every = parse_every

    def frame(self, frame: str | bytes, arrived: float) -> None:
        self.frames += 1
        if (isinstance(frame, bytes) and self.run_id is not None
                and self.frames % self.parse_every):
            if frame.startswith(BATCH_PREFIX):
                start = frame.index(b",", len(BATCH_PREFIX))
                count = int(frame[len(BATCH_PREFIX):start])
                seq = first_seq(frame, start)
                if seq == self.last_seq + 1:
                    self.last_seq = seq + count - 1
                    self.got += frame.count(BENCH_PREFIX)
                    return
            elif frame.startswith(BENCH_PREFIX) and first_seq(frame, 0) == self.last_seq + 1:
                self.last_seq += 1
                self.got += 1
                return
        self.parse(frame, arrived)

    def parse(self, frame: str | bytes, arrived: float) -> None:
        message = json.loads(frame)
        messages = message["messages"] if message["type"] == "batch" else [message]
        # Parsing mode samples every SAMPLE_EVERY-th event; counting mode every event
        # of the frames it parses.
        every = 1 if self.count_only else SAMPLE_EVERY
        for event in messages:
            seq = event.get("seq")
            if seq is None:
                if event["type"] == "reset":
                    raise RuntimeError("unexpected reset")
                continue
            if seq <= self.last_seq:
                self.resent += 1
                continue
            if seq != self.last_seq + 1:
                self.gaps += 1
            self.last_seq, self.run_id = seq, event["run_id"]
            if event["type"] != BENCH_TYPE:
                continue
            producer, number = event["p"], event["n"]
            if number <= self.last[producer]:
                self.duplicates += 1
                continue
            # Counting mode sees a producer's events only in the frames it parses.
            if number != self.last[producer] + 1 and not self.count_only:
                self.out_of_order += 1
            self.last[producer] = number
            self.got += 1
            if number % every == 0:
                self.samples.append(arrived - event["sent"])


async def one_viewer(url: str, expected: int, producers: int, connected: asyncio.Event,
                     count_only: bool, parse_every: int) -> dict[str, Any]:
    import websockets

    tally = ViewerTally(producers, count_only, parse_every)
    reconnects = 0
    while tally.got < expected:
        try:
            async with websockets.connect(url, max_size=None, compression=None,
                                          open_timeout=30) as ws:
                if tally.run_id is not None:
                    await ws.send(json.dumps({"type": "resume", "run_id": tally.run_id,
                                              "last_seq": tally.last_seq}))
                connected.set()
                while tally.got < expected:
                    frame = await ws.recv(decode=False if count_only else None)
                    tally.frame(frame, time.time())
        except (OSError, websockets.ConnectionClosed):
            pass
        if tally.got < expected:
            reconnects += 1
            await asyncio.sleep(0.05)
    return {"got": tally.got, "duplicates": tally.duplicates, "resent": tally.resent,
            "out_of_order": tally.out_of_order, "gaps": tally.gaps, "reconnects": reconnects,
            "samples": tally.samples, "frames": tally.frames, "done": time.time()}


def viewer_main(args: argparse.Namespace) -> None:
    async def all_viewers() -> list[dict[str, Any]]:
        tokens = [authority().mint("viewer", 3600, subject=f"viewer-{args.first + i}")
                  for i in range(args.count)]
        urls = [f"{args.url}/runs/{args.run}/ws/v{args.first + i}?token={tokens[i]}"
                .replace("http://", "ws://") for i in range(args.count)]
        connected = [asyncio.Event() for _ in urls]
        viewers = asyncio.gather(*(one_viewer(u, args.expected, args.producers, c,
                                              args.count_only, args.parse_every)
                                   for u, c in zip(urls, connected, strict=True)))
        # All connected before the producers begin.
        await asyncio.gather(*(c.wait() for c in connected))
        print(json.dumps({"ready": True}), flush=True)
        return await viewers

    results = asyncio.run(all_viewers())
    cpu = cpu_seconds() / len(results)  # the process's CPU, shared out among its viewers
    for result in results:
        print(json.dumps({**result, "cpu": cpu}), flush=True)


# -- the coordinator -----------------------------------------------------------------------


class Redis:
    def __init__(self) -> None:
        self.port = free_port()
        self.folder = tempfile.mkdtemp(prefix="hub-bench-redis-")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.folder],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("redis-server did not start")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_hub(data: Path, redis_url: str | None) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "pytest_jbrealtime", "serve", "--port", "0",
               "--data", str(data), "--max-viewers", "10000", "--max-user-connections", "10000"]
    if redis_url:
        command += ["--redis-url", redis_url]
    data.mkdir(parents=True, exist_ok=True)
    log = data / "hub.log"
    # To a file: a pipe nobody reads would block the hub once its log fills it.
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, text=True,
                                   env={**os.environ, "JB_LIVE_SECRET": SECRET})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        for line in log.read_text().splitlines():
            if line.startswith("jb-live hub: serving on "):
                address = line.split("serving on ")[1].split("/")[2]
                return process, f"http://{address}"
        time.sleep(0.05)
    raise SystemExit(f"the hub did not start:\n{log.read_text()}")


def create_run(hub_url: str, run_id: str, shards: int) -> None:
    """The run exists before viewers connect: a setup shard joins and ends at once."""
    from websockets.sync.client import connect

    token = authority().mint("producer", 3600, project="")
    url = hub_url.replace("http://", "ws://") + "/ws/producer"
    with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        ws.send(json.dumps({"type": "join", "run_id": run_id, "shard": "setup",
                            "producer": "setup", "shards": shards}))
        json.loads(ws.recv())
        ws.send(json.dumps({"type": "publish", "run_id": run_id, "first": 1, "events": [
            {"type": "session_finished", "exit_status": 0, "counts": {}, "total": 0}]}))
        json.loads(ws.recv())


def profile(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy samples a hub for the whole run (``--profile DIR``); SIGINT writes it out."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--format", "raw",
                             "--rate", "250", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_config(name: str, args: argparse.Namespace) -> dict[str, Any]:
    load = os.getloadavg()[0]
    folder = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    redis = Redis() if name in ("redis", "two") else None
    hubs = [start_hub(folder / f"hub{i}", redis.url if redis else None)
            for i in range(2 if name == "two" else 1)]
    run_id = f"bench-{uuid.uuid4().hex[:8]}"
    processes: list[subprocess.Popen[str]] = []
    try:
        create_run(hubs[0][1], run_id, args.producers + 1)
        expected = args.events * args.producers
        viewers = []
        for first in range(0, args.viewers, VIEWERS_PER_PROCESS):
            hub_url = hubs[(first // VIEWERS_PER_PROCESS) % len(hubs)][1]
            viewers.append(subprocess.Popen(
                [sys.executable, __file__, "viewer", "--url", hub_url, "--run", run_id,
                 "--first", str(first), "--count",
                 str(min(VIEWERS_PER_PROCESS, args.viewers - first)),
                 "--expected", str(expected), "--producers", str(args.producers),
                 "--parse-every", str(args.parse_every),
                 *(["--count-only"] if args.count_only else [])],
                stdout=subprocess.PIPE, text=True))
        for viewer in viewers:
            assert viewer.stdout is not None
            assert json.loads(viewer.stdout.readline()).get("ready")
        processes += viewers
        profilers = [profile(process.pid, Path(args.profile) / f"{run_id}-{name}-hub{i}.txt")
                     for i, (process, _) in enumerate(hubs)] if args.profile else []
        token = authority().mint("producer", 3600, project="")
        producers = [subprocess.Popen(
            [sys.executable, __file__, "producer", "--url", hubs[i % len(hubs)][1],
             "--token", token, "--run", run_id, "--index", str(i), "--events",
             str(args.events), "--rate", str(args.rate), "--shards", str(args.producers + 1)],
            stdout=subprocess.PIPE, text=True) for i in range(args.producers)]
        processes += producers
        produced = [json.loads(p.communicate(timeout=600)[0].strip().splitlines()[-1])
                    for p in producers]
        results: list[dict[str, Any]] = []
        for viewer in viewers:
            out = viewer.communicate(timeout=900)[0]
            results += [json.loads(line) for line in out.splitlines()]
        # Where the machine's CPU went (seconds, whole run): hubs, Redis, viewers, producers.
        cpu = {"hubs": sum(cpu_seconds(process.pid) for process, _ in hubs),
               "redis": cpu_seconds(redis.process.pid) if redis else 0.0,
               "viewers": sum(r["cpu"] for r in results),
               "producers": sum(p["cpu"] for p in produced)}
        for profiler in profilers:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(60)
        samples = [s for r in results for s in r["samples"]]
        finished = max(r["done"] for r in results)
        # From the first event sent (not the producers' start-up) to the last delivered.
        started = min(p["first_sent"] for p in produced)
        return {
            "config": name,
            "load": load,
            "viewers": len(results),
            "all_received": all(r["got"] == expected for r in results),
            "duplicates": sum(r["duplicates"] for r in results),
            "out_of_order": sum(r["out_of_order"] for r in results),
            "gaps": sum(r["gaps"] for r in results),
            "events_per_frame": expected * len(results) / sum(r["frames"] for r in results),
            "reconnects": sum(r["reconnects"] for r in results),
            "resent": sum(r["resent"] for r in results),
            "producers_delivered": all(p["delivered"] for p in produced),
            "p50_ms": percentile(samples, 0.50) * 1000,
            "p99_ms": percentile(samples, 0.99) * 1000,
            "seconds": finished - started,
            "deliveries_per_s": expected * len(results) / (finished - started),
            **{f"cpu_{name}_s": seconds for name, seconds in cpu.items()},
            "hub_us_per_delivery": cpu["hubs"] * 1e6 / (expected * len(results)),
        }
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        for process, _ in hubs:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log = folder / f"hub{hubs.index((process, _))}" / "hub.log"
            lines = log.read_text().splitlines()[2:] if log.exists() else []
            if lines:
                kept = Path(tempfile.gettempdir()) / f"hub-bench-{run_id}-{log.parent.name}.log"
                shutil.copyfile(log, kept)
                print(f"# hub log: {len(lines)} lines in {kept}", flush=True)
        if redis is not None:
            redis.stop()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command")
    bench = commands.add_parser("bench")
    for target in (parser, bench):
        target.add_argument("--events", type=int, default=10_000)
        target.add_argument("--producers", type=int, default=4)
        target.add_argument("--viewers", type=int, default=100)
        target.add_argument("--rate", type=float, default=2000.0)
        target.add_argument("--rounds", type=int, default=1)
        target.add_argument("--configs", default="one,redis,two")
        target.add_argument("--profile", metavar="DIR",
                            help="record each hub with py-spy (raw stacks) into DIR")
        target.add_argument("--count-only", action="store_true",
                            help="viewers count events without parsing each one")
        target.add_argument("--parse-every", type=int, default=PARSE_EVERY,
                            help="with --count-only: parse every Nth frame in full")
    producer = commands.add_parser("producer")
    for flag in ("--url", "--token", "--run"):
        producer.add_argument(flag, required=True)
    for flag in ("--index", "--events", "--shards"):
        producer.add_argument(flag, type=int, required=True)
    producer.add_argument("--rate", type=float, required=True)
    viewer = commands.add_parser("viewer")
    viewer.add_argument("--url", required=True)
    viewer.add_argument("--run", required=True)
    for flag in ("--first", "--count", "--expected", "--producers", "--parse-every"):
        viewer.add_argument(flag, type=int, required=True)
    viewer.add_argument("--count-only", action="store_true")
    args = parser.parse_args()
    if args.command == "producer":
        producer_main(args)
        return
    if args.command == "viewer":
        viewer_main(args)
        return
    configs = args.configs.split(",")
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}", flush=True)
    print(f"# {args.producers} producers x {args.events} events at "
          f"{args.rate or 'max'}/s each, {args.viewers} viewers "
          f"({'counting' if args.count_only else 'parsing'})", flush=True)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in configs}
    for round_number in range(args.rounds):
        order = configs if round_number % 2 == 0 else list(reversed(configs))
        for name in order:
            result = run_config(name, args)
            results[name].append(result)
            print(json.dumps({"round": round_number + 1, **result}), flush=True)
    print("| config | all received | dups | out of order | seq gaps | reconnects (resent) "
          "| events/frame | p50 | p99 | deliveries/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, rounds in results.items():
        def median(key: str, rounds: list[dict[str, Any]] = rounds) -> float:
            return float(statistics.median(r[key] for r in rounds))
        duplicates = sum(r["duplicates"] for r in rounds)
        disorder = sum(r["out_of_order"] for r in rounds)
        gaps = sum(r["gaps"] for r in rounds)
        print(f"| {name} | {all(r['all_received'] for r in rounds)} | {duplicates} | {disorder} | "
              f"{gaps} | {median('reconnects'):g} ({median('resent'):g}) | "
              f"{median('events_per_frame'):.0f} | {median('p50_ms'):.0f} ms | "
              f"{median('p99_ms'):.0f} ms | {median('deliveries_per_s'):,.0f} |")
    print()
    print("| config | run (s) | CPU s: hubs | Redis | viewers | producers | load at start "
          "| hub CPU µs per delivery |")
    print("|---|---|---|---|---|---|---|---|")
    for name, rounds in results.items():
        def mid(key: str, rounds: list[dict[str, Any]] = rounds) -> float:
            return float(statistics.median(r[key] for r in rounds))
        loads = [r["load"] for r in rounds]
        print(f"| {name} | {mid('seconds'):.1f} | {mid('cpu_hubs_s'):.1f} | "
              f"{mid('cpu_redis_s'):.1f} | {mid('cpu_viewers_s'):.1f} | "
              f"{mid('cpu_producers_s'):.1f} | {min(loads):.1f}-{max(loads):.1f} | "
              f"{mid('hub_us_per_delivery'):.2f} |")


if __name__ == "__main__":
    main()
