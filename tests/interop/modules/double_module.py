"""The differential tests' engine module, for the reference Event Server
(hat-event-server 0.9.44); tests/interop/modules/double_module.ts is the
same logic for ours.

For each event of type ``in/<x>`` with a number payload it adds to the
session ``out/<x>`` with ``{"value": <double>, "source": "<type> <id>",
"session": <session of on_session_start>}``; for each ``out/<x>`` whose
value is over 10 (its own output, processed in turn) it adds
``alarm/<x>`` with ``"high"``.

Configuration: the module entry's ``subscriptions`` (default
``[["in", "*"], ["out", "*"]]``).
"""

from hat import aio
from hat.event import common


class DoubleModule(common.Module):

    def __init__(self, conf, source):
        self._async_group = aio.Group()
        self._source = source
        self._session = None
        self._subscription = common.create_subscription(
            tuple(i) for i in conf.get('subscriptions',
                                       [['in', '*'], ['out', '*']]))

    @property
    def async_group(self):
        return self._async_group

    @property
    def subscription(self):
        return self._subscription

    def on_session_start(self, session_id):
        self._session = session_id

    def on_session_stop(self, session_id):
        self._session = None

    def process(self, source, event):
        payload = event.payload
        if not isinstance(payload, common.EventPayloadJson):
            return
        data = payload.data
        if event.type[0] == 'in':
            if (not isinstance(data, (int, float)) or
                    isinstance(data, bool)):
                return
            return [common.RegisterEvent(
                type=('out', *event.type[1:]),
                source_timestamp=event.source_timestamp,
                payload=common.EventPayloadJson({
                    'value': data * 2,
                    'source': f'{source.type.name.lower()} {source.id}',
                    'session': self._session}))]
        if event.type[0] == 'out' and data['value'] > 10:
            return [common.RegisterEvent(
                type=('alarm', *event.type[1:]),
                source_timestamp=None,
                payload=common.EventPayloadJson('high'))]


async def create(conf, engine, source):
    return DoubleModule(conf, source)


info = common.ModuleInfo(create=create)
