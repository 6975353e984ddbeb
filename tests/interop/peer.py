"""Reference Eventer peer driven by JSON lines (interop test helper).

Runs the reference implementation (``hat-event`` 0.9.44, module
``hat.event.eventer``) as a server or a client, controlled by one JSON
object per line on stdin, reporting one JSON object per line on stdout
(logs go to stderr).  Used by ``tests/interop/peer.ts``.

Usage::

    peer.py server [--host 127.0.0.1] [--port 0] [--status standby]
                   [--server-id 1] [--close-timeout 0.5]
                   [--ping-delay S] [--ping-timeout S] [--chatter-kwargs JSON]
                   [--no-connected-cb] [--no-disconnected-cb]
                   [--no-register-cb] [--no-query-cb] [--log-level warning]

    peer.py client --port N [--host 127.0.0.1] [--name peer] [--token T]
                   [--subscriptions JSON] [--server-id N] [--persisted]
                   [--ping-delay S] [--ping-timeout S] [--chatter-kwargs JSON]
                   [--events-gate NAME] [--status-gate NAME]
                   [--log-level warning]

``--subscriptions`` is a JSON array of event types, e.g. ``[["a", "*"]]``.
``--ping-delay 0`` disables pinging; ``--chatter-kwargs`` is a JSON object
of extra keyword arguments (Python names, e.g. ``{"receive_queue_size": 8}``)
passed to ``connect``/``listen`` and on to ``hat.drivers.chatter``.

Only the public API is used: ``hat.event.eventer`` (connect, listen, Client,
Server, EventerInitError), ``hat.event.common`` and the standard library,
plus ``hat.drivers.net.TcpAddress``, the address type the API's signatures
require.  Port 0 is supported by handing ``listen`` a pre-bound socket
(``sock=``, passed through to ``asyncio.create_server``), so the real port
is known without touching private attributes.

Output lines
------------

Every output line is a JSON object with ``"type"`` and ``"seq"`` (a counter
over all lines this process wrote, so lines can be ordered).  Output is
ASCII-only (``ensure_ascii=True``): non-ASCII text, even lone surrogates,
travels as ``\\uXXXX`` escapes and decodes exactly.  Input is UTF-8 JSON.
Integers are written exactly (the harness parses integers beyond 2^53 as
``bigint``).

Commands: ``{"id": <any>, "cmd": "<name>", ...}``.  Commands start in the
order received and run concurrently (a command that waits, e.g. ``notify``
with ack, does not block later ones).  Each command gets exactly one reply
when it completes::

    {"type": "reply", "id": <id>, "ok": true, "result": <value>}
    {"type": "reply", "id": <id>, "ok": false, "error": "<str(exc)>",
     "errorType": "<exception class name>"}

Value encoding (mirrors ``common/event/types.ts``)
--------------------------------------------

- Timestamp: ``{"s": "<decimal string>", "us": <int>}`` (input also accepts
  an integer ``s``)
- EventId: ``{"server": int, "session": int, "instance": int}``
- EventType: list of strings
- EventPayload: ``null`` | ``{"kind": "binary", "type": str,
  "data": "<hex>"}`` | ``{"kind": "json", "data": <JSON value>}``; a JSON
  payload holding non-finite floats (only possible when the far side sent
  ``NaN``/``Infinity`` text) is written with those floats as the strings
  ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` and ``"nonFinite": true``
- Event: ``{"id", "type", "timestamp", "sourceTimestamp", "payload"}``
- RegisterEvent: ``{"type", "sourceTimestamp", "payload"}``
- QueryParams: ``{"kind": "latest", "eventTypes"}`` |
  ``{"kind": "timeseries", "eventTypes", "tFrom", "tTo", "sourceTFrom",
  "sourceTTo", "order", "orderBy", "maxResults", "lastEventId"}`` |
  ``{"kind": "server", "serverId", "persisted", "maxResults",
  "lastEventId"}``; output has every field (``null`` for None); on input
  an absent or null field means None, absent ``order``/``orderBy``/
  ``persisted`` mean the reference's defaults
- QueryResult: ``{"events": [Event], "moreFollows": bool}``
- Status: ``"standby" | "starting" | "operational" | "stopping"``
- ConnectionInfo: ``{"id", "clientName", "clientToken", "subscriptions"
  (subscription.get_query_types(), as lists), "serverId", "persisted"}``

Common commands
---------------

- ``echo {value}`` -> result: value (decoded by Python, re-encoded)
- ``gate {name, open: bool}`` -> null.  Gates are named latches, closed
  until opened; closing re-arms them.  Callbacks waiting on a gate that is
  opened proceed even if it is closed again right after.
- ``set_callback_gate {callback, gate: name | null}`` -> null.  The named
  callback (server: connected, register, query; client: events, status)
  waits on the gate before returning.
- ``close`` -> null, after ``async_close()`` of the server / client.

Server (``peer.py server``)
---------------------------

Startup report: ``{"type": "listening", "host", "port"}`` (the real bound
port) or ``{"type": "fatal", "error"}`` and exit 1.

Commands:

- ``set_status {status}`` -> null, after ``set_status`` returned
- ``set_connect_error {clientName, error: str | null}`` -> null: the
  connected callback raises ``Exception(error)`` for that client name
  (null removes the rule)
- ``set_register {mode: "events" | "failure" | "fixed", serverId?,
  session?, timestamp?, events?, notify?}`` -> null.  Fields given replace
  the current configuration.  ``events`` (default): the callback returns one
  Event per RegisterEvent with id ``{serverId (default --server-id),
  session (next session id, default starts at 1 and increments per
  callback), instance (1, 2, ... within the session)}`` and ``timestamp``
  (a fixed Timestamp, or null for the current time, one per callback).
  ``failure``: returns None.  ``fixed``: returns ``events`` as given.
  ``notify`` null | ``{persisted, withAck}``: after computing the events,
  also spawn ``notify_events(events, persisted, withAck)`` (not awaited;
  reports ``auto_notify_returned {n}``)
- ``set_query {result: QueryResult}`` -> null (default: no events,
  moreFollows false)
- ``notify {events, persisted = false, withAck = false}`` -> null, after
  ``notify_events`` returned (so the reply's arrival marks the return);
  also reports ``notify_returned {id}`` (the command's id) just before the
  reply, to order the return against other reports by ``seq``
- ``get_conn_infos`` -> [ConnectionInfo]

Reports (``n`` counts invocations of each callback from 1):

- ``connected {n, info, error: str | null}`` on callback entry; ``error`` is
  the text it is about to raise; ``connected_done {n}`` right before it
  returns / raises
- ``disconnected {n, info}``
- ``register {n, info, events: [RegisterEvent], result: [Event] | null}``
  on entry (``result`` is what it will return); ``register_done {n}``
- ``query {n, info, params: QueryParams, result: QueryResult}`` on entry;
  ``query_done {n}``

Client (``peer.py client``)
---------------------------

Startup report (exactly one): ``{"type": "init", "status"}`` on success,
``{"type": "init_error", "error": "<EventerInitError text>"}``, or
``{"type": "connect_error", "error", "errorType"}`` for any other failure.
The process stays alive after a failure (commands then fail).

Commands:

- ``register {events: [RegisterEvent], withResponse = false}`` -> result:
  what ``register`` returned ([Event], or null for failure / no response)
- ``query {params}`` -> QueryResult
- ``get_status`` -> ``{"status", "isOpen"}``

Reports:

- ``status {n, status}`` on status callback entry; ``status_done {n}``
- ``events {n, events}`` on events callback entry; ``events_done {n}``
  right before it returns (the reference acks after that, if asked)
- ``closed`` once the connection is closed (by either side)

The process closes the server / client and exits 0 when stdin reaches EOF.
"""

import argparse
import asyncio
import json
import logging
import math
import socket
import sys
import traceback

from hat.drivers import net
from hat.event import common
from hat.event import eventer


mlog = logging.getLogger('interop.peer')

_STDIN_LIMIT = 1 << 26


# ---------------------------------------------------------------- output

class Output:

    def __init__(self):
        self._seq = 0
        self._broken = False

    def write(self, obj: dict):
        if self._broken:
            return
        self._seq += 1
        line = {'type': obj['type'], 'seq': self._seq}
        line.update(obj)
        try:
            text = json.dumps(line, ensure_ascii=True, allow_nan=False)
        except Exception as e:
            mlog.error('cannot encode output line: %s', e, exc_info=e)
            text = json.dumps({'type': 'error', 'seq': self._seq,
                               'message': f'cannot encode output: {e}',
                               'lineType': str(obj.get('type'))})
        try:
            sys.stdout.buffer.write(text.encode('ascii') + b'\n')
            sys.stdout.buffer.flush()
        except (BrokenPipeError, ValueError, OSError):
            self._broken = True


out = Output()


def report(type_: str, **kwargs):
    out.write({'type': type_, **kwargs})


# ---------------------------------------------------------------- values

def ts_to_wire(t):
    if t is None:
        return None
    return {'s': str(t.s), 'us': t.us}


def ts_from_wire(d):
    if d is None:
        return None
    return common.Timestamp(s=_int(d['s']), us=_int(d['us']))


def _int(value):
    if isinstance(value, bool):
        raise TypeError('expected integer, got boolean')
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value, 10)
    raise TypeError(f'expected integer, got {value!r}')


def _opt_int(value):
    return None if value is None else _int(value)


def event_id_to_wire(i):
    if i is None:
        return None
    return {'server': i.server, 'session': i.session, 'instance': i.instance}


def event_id_from_wire(d):
    if d is None:
        return None
    return common.EventId(server=_int(d['server']),
                          session=_int(d['session']),
                          instance=_int(d['instance']))


def event_type_to_wire(t):
    return list(t)


def event_type_from_wire(d):
    if not isinstance(d, list) or not all(isinstance(i, str) for i in d):
        raise TypeError(f'invalid event type {d!r}')
    return tuple(d)


def event_types_to_wire(ts):
    return None if ts is None else [list(t) for t in ts]


def event_types_from_wire(d):
    return None if d is None else [event_type_from_wire(t) for t in d]


def _json_safe(data):
    """Replace non-finite floats; return (data, found)."""
    if isinstance(data, float) and not math.isfinite(data):
        if math.isnan(data):
            return 'NaN', True
        return ('Infinity' if data > 0 else '-Infinity'), True
    if isinstance(data, list):
        found = False
        res = []
        for i in data:
            v, f = _json_safe(i)
            res.append(v)
            found = found or f
        return res, found
    if isinstance(data, dict):
        found = False
        res = {}
        for k, i in data.items():
            v, f = _json_safe(i)
            res[k] = v
            found = found or f
        return res, found
    return data, False


# Whether JSON payloads are also reported as their text (--payload-text).
_payload_text = False


def payload_to_wire(p):
    if p is None:
        return None
    if isinstance(p, common.EventPayloadBinary):
        return {'kind': 'binary', 'type': p.type, 'data': bytes(p.data).hex()}
    if isinstance(p, common.EventPayloadJson):
        data, non_finite = _json_safe(p.data)
        res = {'kind': 'json', 'data': data}
        if non_finite:
            res['nonFinite'] = True
        elif _payload_text:
            # The text the reference writes for the value it decoded: key
            # order, int or float and escapes as they came.
            res['text'] = json.dumps(p.data)
        return res
    raise TypeError(f'unsupported payload {p!r}')


def payload_from_wire(d):
    if d is None:
        return None
    if d['kind'] == 'binary':
        return common.EventPayloadBinary(type=d['type'],
                                         data=bytes.fromhex(d['data']))
    if d['kind'] == 'json':
        if 'text' in d:
            # A text decoded as the reference decodes one: keys in order,
            # 2.0 a float.
            return common.EventPayloadJson(data=json.loads(d['text']))
        return common.EventPayloadJson(data=d['data'])
    raise ValueError(f"unsupported payload kind {d['kind']!r}")


def event_to_wire(e):
    return {'id': event_id_to_wire(e.id),
            'type': event_type_to_wire(e.type),
            'timestamp': ts_to_wire(e.timestamp),
            'sourceTimestamp': ts_to_wire(e.source_timestamp),
            'payload': payload_to_wire(e.payload)}


def event_from_wire(d):
    return common.Event(id=event_id_from_wire(d['id']),
                        type=event_type_from_wire(d['type']),
                        timestamp=ts_from_wire(d['timestamp']),
                        source_timestamp=ts_from_wire(
                            d.get('sourceTimestamp')),
                        payload=payload_from_wire(d.get('payload')))


def events_to_wire(events):
    return None if events is None else [event_to_wire(e) for e in events]


def register_event_to_wire(e):
    return {'type': event_type_to_wire(e.type),
            'sourceTimestamp': ts_to_wire(e.source_timestamp),
            'payload': payload_to_wire(e.payload)}


def register_event_from_wire(d):
    return common.RegisterEvent(
        type=event_type_from_wire(d['type']),
        source_timestamp=ts_from_wire(d.get('sourceTimestamp')),
        payload=payload_from_wire(d.get('payload')))


def query_params_to_wire(p):
    if isinstance(p, common.QueryLatestParams):
        return {'kind': 'latest',
                'eventTypes': event_types_to_wire(p.event_types)}
    if isinstance(p, common.QueryTimeseriesParams):
        return {'kind': 'timeseries',
                'eventTypes': event_types_to_wire(p.event_types),
                'tFrom': ts_to_wire(p.t_from),
                'tTo': ts_to_wire(p.t_to),
                'sourceTFrom': ts_to_wire(p.source_t_from),
                'sourceTTo': ts_to_wire(p.source_t_to),
                'order': p.order.value,
                'orderBy': p.order_by.value,
                'maxResults': p.max_results,
                'lastEventId': event_id_to_wire(p.last_event_id)}
    if isinstance(p, common.QueryServerParams):
        return {'kind': 'server',
                'serverId': p.server_id,
                'persisted': p.persisted,
                'maxResults': p.max_results,
                'lastEventId': event_id_to_wire(p.last_event_id)}
    raise TypeError(f'unsupported query params {p!r}')


def query_params_from_wire(d):
    kind = d['kind']
    if kind == 'latest':
        return common.QueryLatestParams(
            event_types=event_types_from_wire(d.get('eventTypes')))
    if kind == 'timeseries':
        kwargs = {}
        if d.get('order') is not None:
            kwargs['order'] = common.Order(d['order'])
        if d.get('orderBy') is not None:
            kwargs['order_by'] = common.OrderBy(d['orderBy'])
        return common.QueryTimeseriesParams(
            event_types=event_types_from_wire(d.get('eventTypes')),
            t_from=ts_from_wire(d.get('tFrom')),
            t_to=ts_from_wire(d.get('tTo')),
            source_t_from=ts_from_wire(d.get('sourceTFrom')),
            source_t_to=ts_from_wire(d.get('sourceTTo')),
            max_results=_opt_int(d.get('maxResults')),
            last_event_id=event_id_from_wire(d.get('lastEventId')),
            **kwargs)
    if kind == 'server':
        kwargs = {}
        if d.get('persisted') is not None:
            kwargs['persisted'] = bool(d['persisted'])
        return common.QueryServerParams(
            server_id=_int(d['serverId']),
            max_results=_opt_int(d.get('maxResults')),
            last_event_id=event_id_from_wire(d.get('lastEventId')),
            **kwargs)
    raise ValueError(f'unsupported query params kind {kind!r}')


def query_result_to_wire(r):
    return {'events': [event_to_wire(e) for e in r.events],
            'moreFollows': bool(r.more_follows)}


def query_result_from_wire(d):
    return common.QueryResult(
        events=[event_from_wire(e) for e in d.get('events', [])],
        more_follows=bool(d.get('moreFollows', False)))


def status_to_wire(s):
    return s.value


def status_from_wire(d):
    return common.Status(d)


def conn_info_to_wire(info):
    return {'id': info.id,
            'clientName': info.client_name,
            'clientToken': info.client_token,
            'subscriptions': [list(t) for t in
                              info.subscription.get_query_types()],
            'serverId': info.server_id,
            'persisted': info.persisted}


# ---------------------------------------------------------------- gates

class Gates:

    def __init__(self):
        self._gates = {}
        self.callback_gates = {}

    def _get(self, name):
        gate = self._gates.get(name)
        if gate is None:
            gate = self._gates[name] = asyncio.Event()
        return gate

    def set(self, name, is_open):
        gate = self._get(name)
        if is_open:
            gate.set()
        else:
            gate.clear()

    async def wait_callback(self, callback):
        name = self.callback_gates.get(callback)
        if name is not None:
            await self._get(name).wait()


# ---------------------------------------------------------------- peers

class Peer:

    callbacks = ()

    def __init__(self, args):
        self.args = args
        self.gates = Gates()
        self.counters = {}
        self.tasks = set()
        for name in ('events_gate', 'status_gate'):
            gate = getattr(args, name, None)
            if gate is not None:
                self.gates.callback_gates[name.split('_')[0]] = gate

    def next_n(self, callback):
        n = self.counters.get(callback, 0) + 1
        self.counters[callback] = n
        return n

    def spawn(self, coro):
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def cmd_echo(self, msg):
        return msg.get('value')

    async def cmd_gate(self, msg):
        self.gates.set(msg['name'], bool(msg['open']))

    async def cmd_set_callback_gate(self, msg):
        callback = msg['callback']
        if callback not in self.callbacks:
            raise ValueError(f'unknown callback {callback!r}')
        gate = msg.get('gate')
        if gate is None:
            self.gates.callback_gates.pop(callback, None)
        else:
            self.gates.callback_gates[callback] = gate

    async def handle(self, msg):
        cmd_id = msg.get('id')
        try:
            cmd = msg.get('cmd')
            fn = getattr(self, f'cmd_{cmd}', None) if isinstance(cmd,
                                                                 str) else None
            if fn is None:
                raise ValueError(f'unknown command {cmd!r}')
            result = await fn(msg)
            out.write({'type': 'reply', 'id': cmd_id, 'ok': True,
                       'result': result})
        except asyncio.CancelledError:
            out.write({'type': 'reply', 'id': cmd_id, 'ok': False,
                       'error': 'cancelled', 'errorType': 'CancelledError'})
            raise
        except Exception as e:
            mlog.debug('command failed: %s', e, exc_info=e)
            out.write({'type': 'reply', 'id': cmd_id, 'ok': False,
                       'error': str(e), 'errorType': type(e).__name__})

    async def shutdown(self):
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=2)


class ServerPeer(Peer):

    callbacks = ('connected', 'register', 'query')

    def __init__(self, args):
        super().__init__(args)
        self.server = None
        self.connect_errors = {}
        self.register_conf = {'mode': 'events',
                              'serverId': args.server_id,
                              'timestamp': None,
                              'events': [],
                              'notify': None}
        self.next_session = 1
        self.query_result = common.QueryResult(events=[], more_follows=False)

    async def start(self):
        sock = socket.socket(socket.AF_INET6 if ':' in self.args.host
                             else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.args.host, self.args.port))
            port = sock.getsockname()[1]
            kwargs = _chatter_kwargs(self.args)
            self.server = await eventer.listen(
                net.TcpAddress(None, None),
                sock=sock,
                status=status_from_wire(self.args.status),
                connected_cb=(None if self.args.no_connected_cb
                              else self._on_connected),
                disconnected_cb=(None if self.args.no_disconnected_cb
                                 else self._on_disconnected),
                register_cb=(None if self.args.no_register_cb
                             else self._on_register),
                query_cb=None if self.args.no_query_cb else self._on_query,
                close_timeout=self.args.close_timeout,
                **kwargs)
        except BaseException:
            sock.close()
            raise
        report('listening', host=self.args.host, port=port)

    async def close(self):
        if self.server is not None:
            await self.server.async_close()

    # callbacks

    async def _on_connected(self, info):
        n = self.next_n('connected')
        error = self.connect_errors.get(info.client_name)
        report('connected', n=n, info=conn_info_to_wire(info), error=error)
        try:
            await self.gates.wait_callback('connected')
        finally:
            report('connected_done', n=n)
        if error is not None:
            raise Exception(error)

    async def _on_disconnected(self, info):
        n = self.next_n('disconnected')
        report('disconnected', n=n, info=conn_info_to_wire(info))

    async def _on_register(self, info, register_events):
        n = self.next_n('register')
        conf = self.register_conf
        mode = conf['mode']
        if mode == 'failure':
            events = None
        elif mode == 'fixed':
            events = list(conf['events'])
        else:
            session = self.next_session
            self.next_session += 1
            timestamp = conf['timestamp'] or common.now()
            events = [
                common.Event(id=common.EventId(server=conf['serverId'],
                                               session=session,
                                               instance=i + 1),
                             type=e.type,
                             timestamp=timestamp,
                             source_timestamp=e.source_timestamp,
                             payload=e.payload)
                for i, e in enumerate(register_events)]
        report('register', n=n, info=conn_info_to_wire(info),
               events=[register_event_to_wire(e) for e in register_events],
               result=events_to_wire(events))
        notify = conf['notify']
        if events and notify is not None:
            self.spawn(self._auto_notify(n, events, notify))
        try:
            await self.gates.wait_callback('register')
        finally:
            report('register_done', n=n)
        return events

    async def _auto_notify(self, n, events, notify):
        await self.server.notify_events(events,
                                        bool(notify.get('persisted', False)),
                                        bool(notify.get('withAck', False)))
        report('auto_notify_returned', n=n)

    async def _on_query(self, info, params):
        n = self.next_n('query')
        result = self.query_result
        report('query', n=n, info=conn_info_to_wire(info),
               params=query_params_to_wire(params),
               result=query_result_to_wire(result))
        try:
            await self.gates.wait_callback('query')
        finally:
            report('query_done', n=n)
        return result

    # commands

    async def cmd_set_status(self, msg):
        await self.server.set_status(status_from_wire(msg['status']))

    async def cmd_set_connect_error(self, msg):
        name = msg['clientName']
        error = msg.get('error')
        if error is None:
            self.connect_errors.pop(name, None)
        else:
            self.connect_errors[name] = str(error)

    async def cmd_set_register(self, msg):
        conf = dict(self.register_conf)
        if 'mode' in msg:
            if msg['mode'] not in ('events', 'failure', 'fixed'):
                raise ValueError(f"unknown register mode {msg['mode']!r}")
            conf['mode'] = msg['mode']
        if 'serverId' in msg:
            conf['serverId'] = _int(msg['serverId'])
        if 'timestamp' in msg:
            conf['timestamp'] = ts_from_wire(msg['timestamp'])
        if 'events' in msg:
            conf['events'] = [event_from_wire(e) for e in msg['events']]
        if 'notify' in msg:
            conf['notify'] = msg['notify']
        if 'session' in msg:
            self.next_session = _int(msg['session'])
        self.register_conf = conf

    async def cmd_set_query(self, msg):
        self.query_result = query_result_from_wire(msg['result'])

    async def cmd_notify(self, msg):
        events = [event_from_wire(e) for e in msg['events']]
        await self.server.notify_events(events,
                                        bool(msg.get('persisted', False)),
                                        bool(msg.get('withAck', False)))
        report('notify_returned', id=msg.get('id'))

    async def cmd_get_conn_infos(self, msg):
        return [conn_info_to_wire(i) for i in self.server.get_conn_infos()]

    async def cmd_close(self, msg):
        await self.server.async_close()


class ClientPeer(Peer):

    callbacks = ('events', 'status')

    def __init__(self, args):
        super().__init__(args)
        self.client = None

    async def start(self):
        args = self.args
        try:
            subscriptions = [event_type_from_wire(t)
                             for t in json.loads(args.subscriptions)]
            self.client = await eventer.connect(
                net.TcpAddress(args.host, args.port),
                args.name,
                client_token=args.token,
                subscriptions=subscriptions,
                server_id=args.server_id,
                persisted=args.persisted,
                status_cb=self._on_status,
                events_cb=self._on_events,
                **_chatter_kwargs(args))
        except eventer.EventerInitError as e:
            report('init_error', error=str(e.args[0] if e.args else e))
            return
        except Exception as e:
            mlog.debug('connect failed: %s', e, exc_info=e)
            report('connect_error', error=str(e), errorType=type(e).__name__)
            return
        report('init', status=status_to_wire(self.client.status))
        self.spawn(self._wait_closed())

    async def _wait_closed(self):
        await self.client.wait_closed()
        report('closed')

    async def close(self):
        if self.client is not None:
            await self.client.async_close()

    def _get_client(self):
        if self.client is None:
            raise ConnectionError('not connected')
        return self.client

    # callbacks

    async def _on_status(self, client, status):
        n = self.next_n('status')
        report('status', n=n, status=status_to_wire(status))
        try:
            await self.gates.wait_callback('status')
        finally:
            report('status_done', n=n)

    async def _on_events(self, client, events):
        n = self.next_n('events')
        report('events', n=n, events=[event_to_wire(e) for e in events])
        try:
            await self.gates.wait_callback('events')
        finally:
            report('events_done', n=n)

    # commands

    async def cmd_register(self, msg):
        events = [register_event_from_wire(e) for e in msg['events']]
        result = await self._get_client().register(
            events, bool(msg.get('withResponse', False)))
        return events_to_wire(result)

    async def cmd_query(self, msg):
        params = query_params_from_wire(msg['params'])
        result = await self._get_client().query(params)
        return query_result_to_wire(result)

    async def cmd_get_status(self, msg):
        client = self._get_client()
        return {'status': status_to_wire(client.status),
                'isOpen': client.is_open}

    async def cmd_close(self, msg):
        await self._get_client().async_close()


def _chatter_kwargs(args):
    kwargs = {}
    if args.chatter_kwargs:
        kwargs.update(json.loads(args.chatter_kwargs))
    if args.ping_delay is not None:
        kwargs['ping_delay'] = args.ping_delay
    if args.ping_timeout is not None:
        kwargs['ping_timeout'] = args.ping_timeout
    return kwargs


# ---------------------------------------------------------------- main

async def _open_stdin():
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_STDIN_LIMIT)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    return reader


async def _run(args):
    peer = ServerPeer(args) if args.role == 'server' else ClientPeer(args)
    reader = await _open_stdin()
    try:
        await peer.start()
    except Exception as e:
        mlog.error('startup failed: %s', e, exc_info=e)
        report('fatal', error=str(e), errorType=type(e).__name__)
        return 1

    try:
        while True:
            try:
                line = await reader.readline()
            except ValueError as e:  # line over limit
                report('error', message=f'invalid input line: {e}')
                continue
            if not line:
                break
            if not line.strip():
                continue
            try:
                msg = json.loads(line.decode('utf-8'))
                if not isinstance(msg, dict):
                    raise ValueError('command is not a JSON object')
            except Exception as e:
                report('error', message=f'invalid command line: {e}')
                continue
            peer.spawn(peer.handle(msg))
    finally:
        try:
            await asyncio.wait_for(peer.close(), 3)
        except BaseException as e:
            mlog.debug('close failed: %s', e)
        await peer.shutdown()
    return 0


def main():
    parser = argparse.ArgumentParser(description='reference eventer peer')
    parser.add_argument('role', choices=['server', 'client'])
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=None)
    parser.add_argument('--status', default='standby')
    parser.add_argument('--server-id', type=int, default=None)
    parser.add_argument('--close-timeout', type=float, default=0.5)
    parser.add_argument('--ping-delay', type=float, default=None)
    parser.add_argument('--ping-timeout', type=float, default=None)
    parser.add_argument('--chatter-kwargs', default=None)
    parser.add_argument('--no-connected-cb', action='store_true')
    parser.add_argument('--no-disconnected-cb', action='store_true')
    parser.add_argument('--no-register-cb', action='store_true')
    parser.add_argument('--no-query-cb', action='store_true')
    parser.add_argument('--name', default='peer')
    parser.add_argument('--token', default=None)
    parser.add_argument('--subscriptions', default='[]')
    parser.add_argument('--persisted', action='store_true')
    parser.add_argument('--events-gate', default=None)
    parser.add_argument('--status-gate', default=None)
    parser.add_argument('--log-level', default='warning')
    parser.add_argument('--payload-text', action='store_true')
    args = parser.parse_args()
    global _payload_text
    _payload_text = args.payload_text

    if args.role == 'server':
        if args.port is None:
            args.port = 0
        if args.server_id is None:
            args.server_id = 1
    elif args.port is None:
        parser.error('client needs --port')

    logging.basicConfig(stream=sys.stderr,
                        level=getattr(logging, args.log_level.upper()),
                        format='%(asctime)s %(name)s %(levelname)s '
                               '%(message)s')
    try:
        code = asyncio.run(_run(args))
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.exit(code)


if __name__ == '__main__':
    main()
