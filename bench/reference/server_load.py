"""Load of an Event Server through the reference's own client.

Driven by ``bench/server.ts``, against our Event Server or the reference's
(hat-event-server 0.9.44), both in their own processes: the same client,
the same requests.  One phase per run; prints one JSON object on stdout.

Phases (``--phase``):

``register``
    ``--batch`` events per request with response, ``--window`` requests
    in flight, for ``--seconds``: ``{"eventsPerSecond": ...}``.
``clients``
    ``--clients`` connections each registering ``--batch`` events per
    request with response, one at a time, for ``--seconds``:
    ``{"eventsPerSecond": ...}`` (all clients together).
``fill``
    Register ``--events`` events over ``--types`` types (every request of
    ``--batch`` spreads over all types), with response, one request at a
    time: ``{"rates": [events/s of each tenth], "writeBytes": ...}``, the
    server's ``/proc/<pid>/io`` ``write_bytes`` over the fill when
    ``--pid`` is given.
``pages``
    Timeseries queries of a filled server, each run ``--repeat`` times:
    ``{"newest": ms, "deep": ms, "oneType": ms}`` (medians).
"""

import argparse
import asyncio
import json
import sys
import time

from hat.drivers import net
from hat.event import common
from hat.event import eventer


def payload(i):
    return common.EventPayloadJson(
        data={'value': i * 0.5, 'quality': 'good', 'valid': True})


def batch_events(n, types, offset=0):
    """``n`` events, instance ``i`` of type ``(offset + i) % types``."""
    t = common.now()
    return [common.RegisterEvent(
        type=('bench', f'type{(offset + i) % types}', 'value'),
        source_timestamp=t,
        payload=payload(offset + i)) for i in range(n)]


def write_bytes(pid):
    if pid is None:
        return None
    with open(f'/proc/{pid}/io') as f:
        for line in f:
            key, value = line.split(':')
            if key == 'write_bytes':
                return int(value)
    return None


async def connect(args, name='bench'):
    # No pings: a server stalling for 20 s (seen in a fill of schema
    # version 2, and of the reference, on a busy machine) would otherwise
    # drop the client and end the run; a stall shows in the rates.
    return await eventer.connect(net.TcpAddress(args.host, args.port), name,
                                 client_token=args.token, ping_delay=None)


async def register_phase(args):
    client = await connect(args)
    try:
        events = batch_events(args.batch, args.types)
        await client.register(events, True)  # warm-up
        done = 0
        start = time.perf_counter()
        end = start + args.seconds

        async def worker():
            nonlocal done
            while time.perf_counter() < end:
                result = await client.register(events, True)
                if result is None:
                    raise Exception('register failed')
                done += len(result)

        await asyncio.gather(*(worker() for _ in range(args.window)))
        return {'eventsPerSecond': done / (time.perf_counter() - start)}
    finally:
        await client.async_close()


async def clients_phase(args):
    clients = await asyncio.gather(*(connect(args, f'bench-{i}')
                                     for i in range(args.clients)))
    try:
        events = batch_events(args.batch, args.types)
        done = 0
        start = time.perf_counter()
        end = start + args.seconds

        async def worker(client):
            nonlocal done
            while time.perf_counter() < end:
                result = await client.register(events, True)
                if result is None:
                    raise Exception('register failed')
                done += len(result)

        await asyncio.gather(*(worker(c) for c in clients))
        return {'eventsPerSecond': done / (time.perf_counter() - start)}
    finally:
        for client in clients:
            await client.async_close()


async def fill_phase(args):
    client = await connect(args)
    try:
        tenth = args.events // 10
        rates = []
        before = write_bytes(args.pid)
        done = 0
        mark = time.perf_counter()
        marked = 0
        while done < args.events:
            n = min(args.batch, args.events - done)
            result = await client.register(
                batch_events(n, args.types, done), True)
            if result is None:
                raise Exception('register failed')
            done += n
            if done - marked >= tenth:
                now = time.perf_counter()
                rates.append((done - marked) / (now - mark))
                mark = now
                marked = done
        # What the server still writes of the fill (the reference flushes
        # every flush period).
        await asyncio.sleep(args.settle)
        after = write_bytes(args.pid)
        return {'rates': rates,
                'writeBytes': None if before is None else after - before}
    finally:
        await client.async_close()


async def timed(repeat, query):
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = await query()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return times[len(times) // 2], result


async def pages_phase(args):
    client = await connect(args)
    try:
        def params(types, last=None):
            return common.QueryTimeseriesParams(
                event_types=types,
                order=common.Order.DESCENDING,
                order_by=common.OrderBy.TIMESTAMP,
                max_results=100,
                last_event_id=last)

        all_types = [('bench', '*')]
        newest, result = await timed(
            args.repeat, lambda: client.query(params(all_types)))
        if len(result.events) != 100:
            raise Exception(f'newest page: {len(result.events)} events')
        # The event `deep` positions back from the newest: a client paging
        # there, as it would page on.
        last = result.events[0].id
        deep_id = common.EventId(last.server, last.session,
                                 last.instance)
        remaining = args.deep
        # Sessions hold `batch` events each, instances 1..batch.
        session = deep_id.session - remaining // args.batch
        deep_id = common.EventId(deep_id.server, session, 1)
        deep, result = await timed(
            args.repeat, lambda: client.query(params(all_types, deep_id)))
        if len(result.events) != 100:
            raise Exception(f'deep page: {len(result.events)} events')
        one_type, result = await timed(
            args.repeat,
            lambda: client.query(params([('bench', 'type7', 'value')])))
        if len(result.events) != min(100, args.events // args.types):
            raise Exception(f'one-type page: {len(result.events)} events')
        return {'newest': newest, 'deep': deep, 'oneType': one_type}
    finally:
        await client.async_close()


PHASES = {'register': register_phase,
          'clients': clients_phase,
          'fill': fill_phase,
          'pages': pages_phase}


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--phase', choices=list(PHASES), required=True)
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--token', default=None)
    parser.add_argument('--batch', type=int, default=1000)
    parser.add_argument('--window', type=int, default=1)
    parser.add_argument('--clients', type=int, default=20)
    parser.add_argument('--seconds', type=float, default=3.0)
    parser.add_argument('--types', type=int, default=1000)
    parser.add_argument('--events', type=int, default=1_000_000)
    parser.add_argument('--deep', type=int, default=500_000)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--settle', type=float, default=0.0)
    parser.add_argument('--pid', type=int, default=None)
    args = parser.parse_args()
    result = await PHASES[args.phase](args)
    json.dump(result, sys.stdout)
    sys.stdout.write('\n')


if __name__ == '__main__':
    asyncio.run(main())
