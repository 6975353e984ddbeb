"""Reference end-to-end workloads, for ``bench/compare.ts``.

The reference client (``hat.event.eventer.connect``) against the reference
server (``hat.event.eventer.listen``), both in this process, on
127.0.0.1 with an OS-assigned port.  Mirrors ``bench/_workloads.ts``: the
same event batches, callbacks, windows and run rules (one discarded
warm-up run, then ``--runs`` runs of at most ``--seconds`` each and at
least one operation).  Prints one JSON object on stdout::

    {"python": "3.11.7", "hatEvent": "0.9.44",
     "results": {"<workload id>": [<value per run>, ...], ...}}

Values are rates with the units of ``bench/_workloads.ts``: round trips/s
(register_rt, query_*), events/s (register_tput), events/s per client
(notify_*).

Usage: ``workloads.py [--only id,id] [--runs 5] [--seconds 1.0]``
"""

import argparse
import asyncio
import importlib.metadata
import itertools
import json
import platform
import socket
import sys
import time

from hat.drivers import net
from hat.event import common
from hat.event import eventer


BATCH = 1000
REGISTER_WINDOW = 4
NOTIFY_WINDOW = 8
FANOUT_CLIENTS = 100
SUBSCRIPTIONS = [('gateway', '*')]
STALL = 60.0

LATEST_QUERY = common.QueryLatestParams(event_types=[('gateway', '*')])
TIMESERIES_QUERY = common.QueryTimeseriesParams(
    event_types=[('gateway', '*')],
    t_from=common.Timestamp(1732000000, 0),
    t_to=common.Timestamp(1733000000, 0),
    order=common.Order.ASCENDING,
    order_by=common.OrderBy.TIMESTAMP,
    max_results=BATCH)


def json_events(n):
    """As ``jsonEvents`` of ``bench/_events.ts``."""
    return [common.Event(
        id=common.EventId(server=1, session=1000 + (i >> 10), instance=i + 1),
        type=('gateway', f'device{i % 16}', 'data', f'value{i % 8}'),
        timestamp=common.Timestamp(s=1732000000 + (i >> 4),
                                   us=(i * 997) % 1000000),
        source_timestamp=common.Timestamp(s=1732000000, us=0),
        payload=common.EventPayloadJson(
            data={'value': i * 0.5, 'quality': 'good', 'valid': True}))
        for i in range(n)]


def register_events(n):
    return [common.RegisterEvent(type=e.type,
                                 source_timestamp=e.source_timestamp,
                                 payload=e.payload)
            for e in json_events(n)]


_sessions = itertools.count(1)


def register_cb(_info, events):
    """What a real server does: one session per request, its own time."""
    session = next(_sessions)
    timestamp = common.now()
    return [common.Event(id=common.EventId(1, session, i + 1),
                         type=e.type,
                         timestamp=timestamp,
                         source_timestamp=e.source_timestamp,
                         payload=e.payload)
            for i, e in enumerate(events)]


REGISTER_ONE = register_events(1)
REGISTER_BATCH = register_events(BATCH)
QUERY_RESULT = common.QueryResult(events=json_events(BATCH),
                                  more_follows=False)


async def listen(**kwargs):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
        server = await eventer.listen(net.TcpAddress(None, None),
                                      sock=sock,
                                      status=common.Status.OPERATIONAL,
                                      **kwargs)
    except BaseException:
        sock.close()
        raise
    return server, net.TcpAddress('127.0.0.1', port)


class Progress:
    """Wake-ups from callbacks to a waiting measurement loop."""

    def __init__(self):
        self._event = asyncio.Event()

    def wake(self):
        self._event.set()

    async def wait(self):
        self._event.clear()
        await asyncio.wait_for(self._event.wait(), STALL)


async def repeat(seconds, max_ops, window, step):
    start = time.perf_counter()
    end = start + seconds
    started = 0

    async def worker():
        nonlocal started
        while started < max_ops and (started == 0 or
                                     time.perf_counter() < end):
            started += 1
            await step()

    await asyncio.gather(*(worker() for _ in range(window)))
    return started / (time.perf_counter() - start)


async def measure(runs, seconds, run):
    await run(min(seconds, 0.3))
    return [await run(seconds) for _ in range(runs)]


async def request_workload(runs, seconds, max_ops, step, window=1):
    server, addr = await listen(register_cb=register_cb,
                                query_cb=lambda _info, _params: QUERY_RESULT)
    try:
        client = await eventer.connect(addr, 'bench')
        try:
            return await measure(runs, seconds, lambda s: repeat(
                s, max_ops, window, lambda: step(client)))
        finally:
            await client.async_close()
    finally:
        await server.async_close()


async def notify_workload(runs, seconds, max_ops, n, ack):
    server, addr = await listen()
    progress = Progress()
    delivered = [0] * n

    def events_cb_for(i):
        def events_cb(_client, events):
            delivered[i] += len(events)
            progress.wake()
        return events_cb

    clients = []
    try:
        for i in range(0, n, 50):
            clients.extend(await asyncio.gather(*(
                eventer.connect(addr, f'bench-{j}',
                                subscriptions=SUBSCRIPTIONS,
                                events_cb=events_cb_for(j))
                for j in range(i, min(i + 50, n)))))
        batch = json_events(BATCH)

        async def run(secs):
            base = list(delivered)

            def slowest():
                return min(d - b for d, b in zip(delivered, base)) / BATCH

            start = time.perf_counter()
            end = start + secs
            sent = 0
            while sent < max_ops and (sent == 0 or time.perf_counter() < end):
                if not ack:
                    while sent - slowest() >= NOTIFY_WINDOW:
                        await progress.wait()
                await server.notify_events(batch, False, ack)
                sent += 1
            while slowest() < sent:
                await progress.wait()
            return sent * BATCH / (time.perf_counter() - start)

        return await measure(runs, seconds, run)

    finally:
        for client in clients:
            await client.async_close()
        await server.async_close()


def workloads(runs, seconds):
    fanout_runs = min(runs, 3)
    return {
        'register_rt': lambda: request_workload(
            runs, seconds, 1_000_000,
            lambda c: c.register(REGISTER_ONE, True)),
        'register_tput': lambda: _scaled(request_workload(
            runs, seconds, 100_000,
            lambda c: c.register(REGISTER_BATCH, True),
            REGISTER_WINDOW), BATCH),
        'notify_1_noack': lambda: notify_workload(
            runs, seconds, 100_000, 1, False),
        'notify_1_ack': lambda: notify_workload(
            runs, seconds, 100_000, 1, True),
        'notify_100_noack': lambda: notify_workload(
            fanout_runs, seconds, 100_000, FANOUT_CLIENTS, False),
        'notify_100_ack': lambda: notify_workload(
            fanout_runs, seconds, 100_000, FANOUT_CLIENTS, True),
        'query_latest': lambda: request_workload(
            runs, seconds, 100_000, lambda c: c.query(LATEST_QUERY)),
        'query_timeseries': lambda: request_workload(
            runs, seconds, 100_000, lambda c: c.query(TIMESERIES_QUERY)),
    }


async def _scaled(coro, factor):
    return [v * factor for v in await coro]


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--only', default='')
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--seconds', type=float, default=1.0)
    args = parser.parse_args()
    table = workloads(args.runs, args.seconds)
    ids = args.only.split(',') if args.only else list(table)
    unknown = [i for i in ids if i not in table]
    if unknown:
        parser.error(f'unknown workload {unknown}')
    results = {}
    for i in ids:
        results[i] = await table[i]()
    json.dump({'python': platform.python_version(),
               'hatEvent': importlib.metadata.version('hat-event'),
               'results': results}, sys.stdout)
    sys.stdout.write('\n')


if __name__ == '__main__':
    asyncio.run(main())
