// Shared helpers of the behaviour tests: raw TCP peers that speak frames
// byte by byte, fake Eventer peers on top of our Chatter layer, log capture
// and small timing utilities. Everything binds 127.0.0.1 port 0.

import * as chatter from "../common/chatter/mod.ts";
import {
  type ChatterMsg,
  frameBodyLength,
  type Payload,
  readChatterMsg,
  writeFrame,
} from "../common/chatter/mod.ts";
import { type Logger, setLogger } from "../common/log.ts";
import {
  type MsgInitReq,
  MsgType,
  readInitReq,
  readInitRes,
  writeInitReq,
  writeInitRes,
} from "../common/eventer/mod.ts";
import { Reader, Writer } from "../common/sbs/mod.ts";
import type { Address } from "../common/chatter/mod.ts";
import type { Event, EventType, Status } from "../common/event/mod.ts";

/** Where every test server binds. */
export const LOCAL: Address = { hostname: "127.0.0.1", port: 0 };

/** Resolve after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `promise`, or a rejection naming `what` after `ms` milliseconds. */
export async function deadline<T>(
  promise: Promise<T>,
  ms: number,
  what = "operation",
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`timed out after ${ms} ms: ${what}`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** True when `promise` is still pending after `ms` milliseconds. */
export async function stillPending(
  promise: Promise<unknown>,
  ms: number,
): Promise<boolean> {
  const pending = Symbol("pending");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const result = await Promise.race([
    promise.then(() => null, () => null),
    new Promise<symbol>((resolve) => timer = setTimeout(resolve, ms, pending)),
  ]);
  clearTimeout(timer);
  return result === pending;
}

/** Poll `cond` every few milliseconds until it holds. */
export async function until(
  cond: () => boolean,
  ms = 2000,
  what = "condition",
): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out: ${what}`);
    await delay(5);
  }
}

/** SBS bytes written by `fn`. */
export function encode(fn: (w: Writer) => void): Uint8Array {
  const w = new Writer(64);
  fn(w);
  return w.bytes().slice();
}

/** Fields of one raw `HatChatter.Msg`. */
export interface RawMsg {
  id: number;
  first?: number;
  owner?: boolean;
  token?: boolean;
  last?: boolean;
  type: string;
  data?: Payload;
}

/** One whole frame, as the reference would write it. */
export function frame(m: RawMsg): Uint8Array {
  const w = new Writer(64);
  writeFrame(
    w,
    m.id,
    m.first ?? m.id,
    m.owner ?? true,
    m.token ?? true,
    m.last ?? true,
    m.type,
    m.data ?? null,
  );
  return w.bytes().slice();
}

/** A frame header announcing `size` body bytes, with no body. */
export function header(size: bigint): Uint8Array {
  const bytes: number[] = [];
  for (let v = size; v > 0n; v >>= 8n) bytes.unshift(Number(v & 0xffn));
  if (bytes.length === 0) bytes.push(0);
  return new Uint8Array([bytes.length, ...bytes]);
}

/** A TCP peer that reads and writes frames itself, with no Chatter logic. */
export class RawPeer implements Disposable {
  readonly conn: Deno.Conn;
  #buf = new Uint8Array(0);
  #closed = false;
  #nextId = 1;

  constructor(conn: Deno.Conn) {
    this.conn = conn;
  }

  /** Connect to `addr` over plain TCP. */
  static async connect(addr: Address): Promise<RawPeer> {
    return new RawPeer(await Deno.connect(addr));
  }

  /** Local port, as the other side logs it. */
  get port(): number {
    return (this.conn.localAddr as Deno.NetAddr).port;
  }

  /** Write raw bytes. */
  async write(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) {
      written += await this.conn.write(bytes.subarray(written));
    }
  }

  /** Send one message; `id` counts from 1 unless given. */
  async send(m: Omit<RawMsg, "id"> & { id?: number }): Promise<number> {
    const id = m.id ?? this.#nextId++;
    await this.write(frame({ ...m, id }));
    return id;
  }

  /** Next whole message, or null at a clean end of stream. */
  async recv(): Promise<ChatterMsg | null> {
    for (;;) {
      const buf = this.#buf;
      const k = frameBodyLength(buf, 0, buf.length, 2 ** 31);
      if (k >= 0 && buf.length >= 1 + buf[0] + k) {
        const body = 1 + buf[0];
        const msg = readChatterMsg(buf, body, body + k);
        this.#buf = buf.slice(body + k);
        return msg;
      }
      const chunk = new Uint8Array(65536);
      const n = await this.conn.read(chunk);
      if (n === null) {
        if (this.#buf.length) throw new Error("end of stream mid-frame");
        return null;
      }
      const next = new Uint8Array(this.#buf.length + n);
      next.set(this.#buf);
      next.set(chunk.subarray(0, n), this.#buf.length);
      this.#buf = next;
    }
  }

  /** Next message, which must exist, within `ms`. */
  async expect(ms = 2000): Promise<ChatterMsg> {
    const msg = await deadline(this.recv(), ms, "message from peer");
    if (!msg) throw new Error("peer closed instead of sending");
    return msg;
  }

  /** Read until the peer closes; resolves with what arrived meanwhile. */
  async eof(ms = 2000): Promise<ChatterMsg[]> {
    const msgs: ChatterMsg[] = [];
    await deadline(
      (async () => {
        for (;;) {
          try {
            const msg = await this.recv();
            if (!msg) return;
            msgs.push(msg);
          } catch (e) {
            // A reset is as good as a close.
            if (e instanceof Deno.errors.ConnectionReset) return;
            throw e;
          }
        }
      })(),
      ms,
      "peer to close",
    );
    return msgs;
  }

  /** Close the socket (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** A raw TCP listener handing out {@linkcode RawPeer}s. */
export class RawListener implements Disposable {
  readonly listener = Deno.listen(LOCAL);

  get addr(): Address {
    const a = this.listener.addr as Deno.NetAddr;
    return { hostname: a.hostname, port: a.port };
  }

  async accept(): Promise<RawPeer> {
    return new RawPeer(await this.listener.accept());
  }

  [Symbol.dispose](): void {
    this.listener.close();
  }
}

/** Decode the body of `msg` with `read`, requiring every byte be used. */
export function decode<T>(
  msg: { data: Uint8Array },
  read: (r: Reader) => T,
): T {
  const r = new Reader(msg.data);
  const v = read(r);
  r.done();
  return v;
}

/** An init request with everything defaulted. */
export function initReq(over: Partial<MsgInitReq> = {}): MsgInitReq {
  return {
    clientName: "raw",
    clientToken: null,
    subscriptions: [],
    serverId: null,
    persisted: false,
    ...over,
  };
}

/**
 * Fake Eventer server side of a Chatter connection: read the MsgInitReq
 * and answer `success` with `status`.
 */
export async function acceptInit(
  conn: chatter.Connection,
  status: Status = "standby",
): Promise<MsgInitReq> {
  const msg = await conn.receive();
  if (msg.type !== MsgType.InitReq) throw new Error(`got ${msg.type}`);
  const init = decode(msg, readInitReq);
  conn.sendNow(
    MsgType.InitRes,
    (w) => writeInitRes(w, { type: "success", status }),
    { conv: msg.conv },
  );
  return init;
}

/**
 * Fake Eventer client: a Chatter connection that performed the init
 * handshake itself. Throws unless the server answered `success`.
 */
export async function rawClient(
  addr: Address,
  init: Partial<MsgInitReq> = {},
  options: chatter.ConnectOptions = {},
): Promise<{ conn: chatter.Connection; status: Status }> {
  const conn = await chatter.connect(addr, options);
  try {
    conn.sendNow(MsgType.InitReq, (w) => writeInitReq(w, initReq(init)), {
      last: false,
    });
    const res = decode(await deadline(conn.receive(), 2000), readInitRes);
    if (res.type !== "success") throw new Error(`init error: ${res.error}`);
    return { conn, status: res.status };
  } catch (e) {
    await conn.asyncClose();
    throw e;
  }
}

/** A log record captured by {@linkcode captureLog}. */
export interface LogRecord {
  level: "debug" | "warn" | "error";
  text: string;
}

/** Route the library's log into an array until disposed. */
export function captureLog(): { records: LogRecord[] } & Disposable {
  const records: LogRecord[] = [];
  const record =
    (level: LogRecord["level"]) => (message: string, ...args: unknown[]) =>
      records.push({
        level,
        text: [message, ...args.map((a) => String(a))].join(" "),
      });
  const logger: Logger = {
    debug: record("debug"),
    warn: record("warn"),
    error: record("error"),
  };
  setLogger(logger);
  return { records, [Symbol.dispose]: () => setLogger(null) };
}

/** An event with defaults suitable for tests. */
export function ev(
  type: EventType,
  instance = 1,
  server = 1,
  over: Partial<Event> = {},
): Event {
  return {
    id: { server, session: 1, instance },
    type,
    timestamp: { s: 1700000000, us: instance },
    sourceTimestamp: null,
    payload: null,
    ...over,
  };
}

/** A promise with its resolvers, for gating callbacks. */
export function gate<T = void>(): PromiseWithResolvers<T> {
  return Promise.withResolvers<T>();
}

/** A Chatter server handing its connections to the test. */
export async function chatterServer(options: chatter.ListenOptions = {}) {
  const conns: chatter.Connection[] = [];
  let taken = 0;
  const srv = await chatter.listen(
    (c) => {
      conns.push(c);
    },
    LOCAL,
    options,
  );
  return {
    srv,
    conns,
    addr: srv.addresses[0],
    /** The next connection not yet handed out. */
    async next(): Promise<chatter.Connection> {
      const n = ++taken;
      await until(() => conns.length >= n, 2000, "server connection");
      return conns[n - 1];
    },
    [Symbol.asyncDispose]: () => srv.asyncClose(),
  };
}

/**
 * Resolves `g` when disposed: declared after the resource whose callback
 * waits on `g`, it is disposed first, so a failing test cannot hang while
 * closing that resource.
 */
export function releasing<T>(g: PromiseWithResolvers<T>): Disposable {
  return { [Symbol.dispose]: () => g.resolve(undefined as T) };
}
