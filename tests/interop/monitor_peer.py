"""A reference `hat.monitor.component` for the interop tests.

Usage: python monitor_peer.py MONITOR_PORT NAME GROUP

Connects to the Monitor Server at 127.0.0.1:MONITOR_PORT, prints one line
per thing that happens, each starting with the Unix time:

  runner_cb                   (the component became active)
  runner_closed               (its runner finished closing)
  state <req>/<res>           (own blessing request / response tokens)
  closed                      (the component closed)

and takes commands on stdin, one per line: `ready 1`, `ready 0`, `close`.
"""

import asyncio
import contextlib
import sys
import time

from hat import aio
from hat.drivers import net
import hat.monitor.component


def log(*args):
    print(f'{time.time():.6f}', *args, flush=True)


class Runner(aio.Resource):

    def __init__(self):
        self._async_group = aio.Group()
        self._async_group.spawn(aio.call_on_cancel, self._on_close)
        log('runner_cb')

    @property
    def async_group(self):
        return self._async_group

    def _on_close(self):
        log('runner_closed')


async def main():
    port, name, group = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    last = None

    def on_state(component, state):
        nonlocal last
        info = state.info
        text = (f'{info.blessing_req.token}/{info.blessing_res.token}'
                if info else 'None/None')
        if text != last:
            last = text
            log('state', text)

    component = await hat.monitor.component.connect(
        addr=net.TcpAddress('127.0.0.1', port),
        name=name,
        group=group,
        runner_cb=lambda c: Runner(),
        state_cb=on_state)
    log('connected')

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def commands():
        while True:
            line = (await reader.readline()).decode().strip()
            if not line or line == 'close':
                return
            cmd, arg = line.split()
            if cmd == 'ready':
                await component.set_ready(arg == '1')

    try:
        task = asyncio.ensure_future(commands())
        await asyncio.wait([task, asyncio.ensure_future(
            component.wait_closing())],
            return_when=asyncio.FIRST_COMPLETED)
    finally:
        await aio.uncancellable(component.async_close())
        log('closed')


if __name__ == '__main__':
    aio.init_asyncio()
    with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        aio.run_asyncio(main())
