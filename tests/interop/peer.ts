/**
 * Harness for the reference Eventer peer (`tests/interop/peer.py`).
 *
 * {@linkcode startPeer} spawns `.venv/bin/python tests/interop/peer.py` as a
 * reference (hat-event 0.9.44) server or client, talks to it with JSON lines
 * on stdin and collects the JSON lines it reports on stdout. The full command
 * and report protocol is documented at the top of `peer.py`.
 *
 * Boundary encoding (the `Peer*` types below), chosen so that nothing loses
 * precision:
 *
 * - Timestamp `{s: "<decimal string>", us}`; EventId `{server, session,
 *   instance}`; event types are string arrays; statuses are the strings of
 *   `common/event/types.ts`.
 * - Payload `null` | `{kind: "binary", type, data: "<hex>"}` |
 *   `{kind: "json", data: <JSON value>}`.
 * - QueryParams `{kind, ...camelCase fields of common/event/types.ts}`; the peer
 *   reports every field (`null` for None) and accepts absent/null as None
 *   (absent `order`/`orderBy`/`persisted` mean the reference's defaults).
 * - QueryResult `{events, moreFollows}`.
 * - Lines from the peer are ASCII JSON (non-ASCII as `\u` escapes) and are
 *   parsed with integers beyond 2^53 - 1 turned into `bigint`; commands are
 *   written as UTF-8 JSON with `bigint` written as plain JSON integers.
 *
 * The venv is `<project>/.venv` unless `HAT_INTEROP_VENV` names another one
 * (create it with `tests/interop/setup.ts`). Set `HAT_INTEROP_DEBUG=1` to
 * echo the peers' stdin/stdout/stderr to the console.
 *
 * @module
 */

import type {
  Event,
  EventId,
  EventPayload,
  QueryParams,
  QueryResult,
  RegisterEvent,
  Status,
  Timestamp,
} from "../../common/event/mod.ts";
import type { JsonValue } from "../../common/json/mod.ts";
import { JsonTextPayload } from "../../common/event/mod.ts";
import { frameBodyLength, readChatterMsg } from "../../common/chatter/mod.ts";

// ------------------------------------------------------------ wire types

/** Timestamp at the boundary; the peer accepts `s` as number too. */
export interface PeerTimestamp {
  /** Whole seconds as a decimal string. */
  s: string;
  /** Microseconds. */
  us: number;
}

/** EventId at the boundary. */
export interface PeerEventId {
  /** Server id. */
  server: number;
  /** Session id. */
  session: number;
  /** Instance id. */
  instance: number;
}

/** Payload at the boundary. */
export type PeerPayload =
  | null
  | { kind: "binary"; type: string; data: string }
  | {
    kind: "json";
    data: JsonValue;
    nonFinite?: boolean;
    /**
     * The JSON text: reported (by a peer started with `payloadText`) as
     * Python's `json.dumps` of the value the reference decoded, so key
     * order and `2.0` show; given, the peer decodes it as the reference
     * does instead of taking `data`.
     */
    text?: string;
  };

/** Event at the boundary. */
export interface PeerEvent {
  /** Event id. */
  id: PeerEventId;
  /** Event type. */
  type: string[];
  /** Timestamp. */
  timestamp: PeerTimestamp;
  /** Source timestamp. */
  sourceTimestamp: PeerTimestamp | null;
  /** Payload. */
  payload: PeerPayload;
}

/** RegisterEvent at the boundary. */
export interface PeerRegisterEvent {
  /** Event type. */
  type: string[];
  /** Source timestamp. */
  sourceTimestamp: PeerTimestamp | null;
  /** Payload. */
  payload: PeerPayload;
}

/** QueryParams at the boundary (fields may be omitted on input). */
export type PeerQueryParams =
  | { kind: "latest"; eventTypes?: string[][] | null }
  | {
    kind: "timeseries";
    eventTypes?: string[][] | null;
    tFrom?: PeerTimestamp | null;
    tTo?: PeerTimestamp | null;
    sourceTFrom?: PeerTimestamp | null;
    sourceTTo?: PeerTimestamp | null;
    order?: "descending" | "ascending";
    orderBy?: "timestamp" | "sourceTimestamp";
    maxResults?: number | null;
    lastEventId?: PeerEventId | null;
  }
  | {
    kind: "server";
    serverId: number;
    persisted?: boolean;
    maxResults?: number | null;
    lastEventId?: PeerEventId | null;
  };

/** QueryResult at the boundary. */
export interface PeerQueryResult {
  /** Events. */
  events: PeerEvent[];
  /** More follows flag. */
  moreFollows: boolean;
}

/** Reference server's ConnectionInfo as reported by the peer. */
export interface PeerConnInfo {
  /** Connection id (from 1 per server). */
  id: number;
  /** Client name. */
  clientName: string;
  /** Client token. */
  clientToken: string | null;
  /** `subscription.get_query_types()` of the reference. */
  subscriptions: string[][];
  /** Server id filter. */
  serverId: number | null;
  /** Persisted flag. */
  persisted: boolean;
}

// ------------------------------------------------------------ commands

/** Callbacks that can wait on a gate. */
export type PeerCallback =
  | "connected"
  | "register"
  | "query"
  | "events"
  | "status";

/** Register callback configuration of the reference server. */
export interface PeerRegisterConf {
  /** `events` (assign ids), `failure` (return None), `fixed` (`events`). */
  mode?: "events" | "failure" | "fixed";
  /** Server id of assigned event ids (default: `--server-id`, 1). */
  serverId?: number;
  /** Next session id (increments per callback; starts at 1). */
  session?: number;
  /** Fixed timestamp of assigned events, null for the current time. */
  timestamp?: PeerTimestamp | null;
  /** Events returned in `fixed` mode. */
  events?: PeerEvent[];
  /** Also notify the assigned events (spawned, not awaited). */
  notify?: { persisted?: boolean; withAck?: boolean } | null;
}

/** Commands understood by peer.py (`id` is assigned by the harness). */
export type PeerCommand =
  | { cmd: "echo"; value: unknown }
  | { cmd: "gate"; name: string; open: boolean }
  | { cmd: "set_callback_gate"; callback: PeerCallback; gate: string | null }
  | { cmd: "close" }
  | { cmd: "set_status"; status: Status }
  | { cmd: "set_connect_error"; clientName: string; error: string | null }
  | ({ cmd: "set_register" } & PeerRegisterConf)
  | { cmd: "set_query"; result: PeerQueryResult }
  | {
    cmd: "notify";
    events: PeerEvent[];
    persisted?: boolean;
    withAck?: boolean;
  }
  | { cmd: "get_conn_infos" }
  | { cmd: "register"; events: PeerRegisterEvent[]; withResponse?: boolean }
  | { cmd: "query"; params: PeerQueryParams }
  | { cmd: "get_status" };

// ------------------------------------------------------------ reports

/** Fields of every line the peer writes. */
export interface PeerLineBase {
  /** Line type. */
  type: string;
  /** Counter over all lines of the process, from 1. */
  seq: number;
}

/** Reply to a command. */
export interface PeerReply extends PeerLineBase {
  /** Discriminator. */
  type: "reply";
  /** Id of the command. */
  id: number;
  /** Whether the command succeeded. */
  ok: boolean;
  /** Result when ok. */
  result?: unknown;
  /** `str(exception)` when not ok. */
  error?: string;
  /** Exception class name when not ok. */
  errorType?: string;
}

type DoneType =
  | "connected_done"
  | "register_done"
  | "query_done"
  | "events_done"
  | "status_done"
  | "auto_notify_returned";

type DoneReport = {
  [K in DoneType]: { type: K; seq: number; n: number };
}[DoneType];

/** Every non-reply line the peer writes. */
export type PeerReport =
  | { type: "listening"; seq: number; host: string; port: number }
  | { type: "fatal"; seq: number; error: string; errorType: string }
  | { type: "init"; seq: number; status: Status }
  | { type: "init_error"; seq: number; error: string }
  | { type: "connect_error"; seq: number; error: string; errorType: string }
  | {
    type: "connected";
    seq: number;
    n: number;
    info: PeerConnInfo;
    error: string | null;
  }
  | { type: "disconnected"; seq: number; n: number; info: PeerConnInfo }
  | {
    type: "register";
    seq: number;
    n: number;
    info: PeerConnInfo;
    events: PeerRegisterEvent[];
    result: PeerEvent[] | null;
  }
  | {
    type: "query";
    seq: number;
    n: number;
    info: PeerConnInfo;
    params: Required<PeerQueryParams>;
    result: PeerQueryResult;
  }
  | { type: "status"; seq: number; n: number; status: Status }
  | { type: "events"; seq: number; n: number; events: PeerEvent[] }
  | { type: "closed"; seq: number }
  | { type: "notify_returned"; seq: number; id: number }
  | { type: "error"; seq: number; message: string }
  | DoneReport;

/** Report type names. */
export type PeerReportType = PeerReport["type"];

/** The report of a given type. */
export type ReportOf<K extends PeerReportType> = Extract<
  PeerReport,
  { type: K }
>;

/** Any line written by the peer. */
export type PeerLine = PeerReport | PeerReply;

/** Type guard for reports of `type` that also satisfy `filter`. */
export function isReport<K extends PeerReportType>(
  type: K,
  filter?: (report: ReportOf<K>) => boolean,
): (report: PeerReport) => report is ReportOf<K> {
  return (report): report is ReportOf<K> =>
    report.type === type && (!filter || filter(report as ReportOf<K>));
}

/** A command that the peer answered with `ok: false`. */
export class PeerCommandError extends Error {
  /** Python exception class name. */
  readonly errorType: string;
  /** The reply. */
  readonly reply: PeerReply;

  constructor(reply: PeerReply) {
    super(`${reply.errorType ?? "Error"}: ${reply.error ?? ""}`);
    this.name = "PeerCommandError";
    this.errorType = reply.errorType ?? "";
    this.reply = reply;
  }
}

// ------------------------------------------------------------ args

/** Options of `peer.py server`. */
export interface ServerArgs {
  /** Status at listen (default standby). */
  status?: Status;
  /** Server id of events assigned by the register callback (default 1). */
  serverId?: number;
  /** Seconds to wait for a rejected client to close (default 0.5). */
  closeTimeout?: number;
  /** Chatter ping delay in seconds (0 disables). */
  pingDelay?: number;
  /** Chatter ping timeout in seconds. */
  pingTimeout?: number;
  /** Extra chatter keyword arguments (Python names). */
  chatterKwargs?: Record<string, unknown>;
  /** Listen without the connected callback. */
  noConnectedCb?: boolean;
  /** Listen without the disconnected callback. */
  noDisconnectedCb?: boolean;
  /** Listen without the register callback. */
  noRegisterCb?: boolean;
  /** Listen without the query callback. */
  noQueryCb?: boolean;
  /** Python log level (default warning). */
  logLevel?: string;
}

/** Options of `peer.py client`. */
export interface ClientArgs {
  /** Server port. */
  port: number;
  /** Server host (default 127.0.0.1). */
  host?: string;
  /** Client name (default "peer"). */
  name?: string;
  /** Client token. */
  token?: string;
  /** Subscriptions. */
  subscriptions?: readonly (readonly string[])[];
  /** Server id filter. */
  serverId?: number;
  /** Persisted flag. */
  persisted?: boolean;
  /** Chatter ping delay in seconds (0 disables). */
  pingDelay?: number;
  /** Chatter ping timeout in seconds. */
  pingTimeout?: number;
  /** Extra chatter keyword arguments (Python names). */
  chatterKwargs?: Record<string, unknown>;
  /** Gate the events callback waits on from the start. */
  eventsGate?: string;
  /** Gate the status callback waits on from the start. */
  statusGate?: string;
  /** Python log level (default warning). */
  logLevel?: string;
  /** Report JSON payloads' texts too (PeerPayload's `text`). */
  payloadText?: boolean;
}

function commonArgs(
  a: {
    pingDelay?: number;
    pingTimeout?: number;
    chatterKwargs?: Record<string, unknown>;
    logLevel?: string;
  },
): string[] {
  const args: string[] = [];
  if (a.pingDelay !== undefined) args.push("--ping-delay", `${a.pingDelay}`);
  if (a.pingTimeout !== undefined) {
    args.push("--ping-timeout", `${a.pingTimeout}`);
  }
  if (a.chatterKwargs) {
    args.push("--chatter-kwargs", stringifyLine(a.chatterKwargs));
  }
  if (a.logLevel) args.push("--log-level", a.logLevel);
  return args;
}

/** Command line arguments for `startPeer("server", ...)`. */
export function serverArgs(a: ServerArgs = {}): string[] {
  const args = commonArgs(a);
  if (a.status) args.push("--status", a.status);
  if (a.serverId !== undefined) args.push("--server-id", `${a.serverId}`);
  if (a.closeTimeout !== undefined) {
    args.push("--close-timeout", `${a.closeTimeout}`);
  }
  if (a.noConnectedCb) args.push("--no-connected-cb");
  if (a.noDisconnectedCb) args.push("--no-disconnected-cb");
  if (a.noRegisterCb) args.push("--no-register-cb");
  if (a.noQueryCb) args.push("--no-query-cb");
  return args;
}

/** Command line arguments for `startPeer("client", ...)`. */
export function clientArgs(a: ClientArgs): string[] {
  const args = ["--port", `${a.port}`, ...commonArgs(a)];
  if (a.host) args.push("--host", a.host);
  if (a.name !== undefined) args.push("--name", a.name);
  if (a.token !== undefined) args.push("--token", a.token);
  if (a.subscriptions) {
    args.push("--subscriptions", stringifyLine(a.subscriptions));
  }
  if (a.serverId !== undefined) args.push("--server-id", `${a.serverId}`);
  if (a.persisted) args.push("--persisted");
  if (a.eventsGate !== undefined) args.push("--events-gate", a.eventsGate);
  if (a.statusGate !== undefined) args.push("--status-gate", a.statusGate);
  if (a.payloadText) args.push("--payload-text");
  return args;
}

// ------------------------------------------------------------ JSON lines

function reviver(
  _key: string,
  value: unknown,
  context?: { source?: string },
): unknown {
  if (
    typeof value === "number" && !Number.isSafeInteger(value) &&
    context?.source !== undefined && /^-?\d+$/.test(context.source)
  ) {
    return BigInt(context.source);
  }
  return value;
}

/** Parses one peer line; integers beyond 2^53 - 1 become `bigint`. */
export function parseLine(line: string): unknown {
  return JSON.parse(line, reviver);
}

const rawJSON = (JSON as unknown as { rawJSON(text: string): unknown })
  .rawJSON;

/**
 * Serialises a value for the peer; `bigint` becomes a JSON integer and
 * `-0` the float `-0.0` (plain `JSON.stringify` would write `0`).
 */
export function stringifyLine(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v) =>
      typeof v === "bigint"
        ? rawJSON(v.toString())
        : Object.is(v, -0)
        ? rawJSON("-0.0")
        : v,
  );
}

// ------------------------------------------------------------ paths

const projectRoot = decodeURIComponent(
  new URL("../../", import.meta.url).pathname,
).replace(/\/$/, "");

function envGet(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** Path of the venv used for peers. */
export function venvPath(): string {
  return envGet("HAT_INTEROP_VENV") || `${projectRoot}/.venv`;
}

/** Path of peer.py. */
export const PEER_PY: string = `${projectRoot}/tests/interop/peer.py`;

// ------------------------------------------------------------ peer

interface Waiter {
  predicate: (report: PeerReport) => boolean;
  resolve: (report: PeerReport) => void;
  reject: (error: Error) => void;
}

interface Pending {
  resolve: (reply: PeerReply) => void;
  reject: (error: Error) => void;
}

/** Options of {@linkcode startPeer}. */
export interface StartOptions {
  /** Wait for the startup report (default true). */
  waitReady?: boolean;
  /** Timeout of the startup report in ms (default 10000). */
  readyTimeoutMs?: number;
}

const STARTUP_TYPES: ReadonlySet<string> = new Set([
  "listening",
  "fatal",
  "init",
  "init_error",
  "connect_error",
]);

/** A running peer.py process. */
export class Peer implements AsyncDisposable {
  /** Role. */
  readonly role: "server" | "client";
  /** Every line written by the peer, replies included, in order. */
  readonly lines: PeerLine[] = [];
  /** Every report (non-reply line), in order. */
  readonly reports: PeerReport[] = [];
  /** Resolves with the exit status once the process ended. */
  readonly status: Promise<Deno.CommandStatus>;
  /** Resolves with the startup report (listening/init/...). */
  readonly ready: Promise<PeerReport>;

  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #encoder = new TextEncoder();
  #debug: boolean;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #waiters: Waiter[] = [];
  #consumed = new WeakSet<PeerReport>();
  #stderr = "";
  #startup: PeerReport | undefined;
  #readyResolve!: (report: PeerReport) => void;
  #readyReject!: (error: Error) => void;
  #stdoutDone: Promise<void>;
  #stderrDone: Promise<void>;
  #ended = false;
  #closing: Promise<void> | undefined;
  #inputClosed = false;

  constructor(role: "server" | "client", args: string[]) {
    this.role = role;
    this.#debug = !!envGet("HAT_INTEROP_DEBUG");
    const python = `${venvPath()}/bin/python`;
    const command = new Deno.Command(python, {
      args: [PEER_PY, role, ...args],
      cwd: projectRoot,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { PYTHONUNBUFFERED: "1", PYTHONDONTWRITEBYTECODE: "1" },
    });
    try {
      this.#child = command.spawn();
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new Error(
          `${python} not found; run: deno run --allow-run --allow-read ` +
            `--allow-write --allow-env tests/interop/setup.ts`,
        );
      }
      throw e;
    }
    this.ready = new Promise((resolve, reject) => {
      this.#readyResolve = resolve;
      this.#readyReject = reject;
    });
    // Handled by whoever awaits `ready`; never an unhandled rejection.
    this.ready.catch(() => {});
    this.#writer = this.#child.stdin.getWriter();
    this.#stdoutDone = this.#readStdout();
    this.#stderrDone = this.#readStderr();
    this.status = this.#child.status;
  }

  /** Process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Startup report, once received. */
  get startup(): PeerReport | undefined {
    return this.#startup;
  }

  /** Bound port of a server peer. */
  get port(): number {
    const s = this.#startup;
    if (s?.type !== "listening") {
      throw new Error(`peer is not listening (startup: ${JSON.stringify(s)})`);
    }
    return s.port;
  }

  /** Everything the peer wrote to stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Sends a command without waiting; returns its id. */
  send(cmd: PeerCommand): number {
    const id = this.#nextId++;
    this.#write({ ...cmd, id });
    return id;
  }

  /**
   * Sends a command and resolves with its result; rejects with
   * {@linkcode PeerCommandError} when the peer answers `ok: false`.
   */
  request<T = unknown>(cmd: PeerCommand, timeoutMs = 10000): Promise<T> {
    if (this.#ended || this.#inputClosed) {
      return Promise.reject(this.#endedError("request " + cmd.cmd));
    }
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new Error(
            `peer ${this.role}: no reply to ${cmd.cmd} (id ${id}) ` +
              `within ${timeoutMs} ms${this.#tail()}`,
          ),
        );
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (reply) => {
          clearTimeout(timer);
          if (reply.ok) resolve(reply.result as T);
          else reject(new PeerCommandError(reply));
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.#write({ ...cmd, id });
    });
  }

  /**
   * Resolves with the first report not yet taken by another `next` that
   * matches `predicate` (a type name or a function), looking at reports
   * already received first, then waiting up to `timeoutMs`. Each report is
   * handed out at most once.
   */
  next<K extends PeerReportType>(
    type: K,
    timeoutMs?: number,
  ): Promise<ReportOf<K>>;
  next<R extends PeerReport>(
    predicate: (report: PeerReport) => report is R,
    timeoutMs?: number,
  ): Promise<R>;
  next(
    predicate: (report: PeerReport) => boolean,
    timeoutMs?: number,
  ): Promise<PeerReport>;
  next(
    predicate: PeerReportType | ((report: PeerReport) => boolean),
    timeoutMs = 5000,
  ): Promise<PeerReport> {
    const pred = typeof predicate === "string"
      ? (r: PeerReport) => r.type === predicate
      : predicate;
    const found = this.reports.find((r) => !this.#consumed.has(r) && pred(r));
    if (found) {
      this.#consumed.add(found);
      return Promise.resolve(found);
    }
    if (this.#ended) {
      return Promise.reject(this.#endedError(`next(${describe(predicate)})`));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate: pred,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(
          new Error(
            `peer ${this.role}: no report matching ${describe(predicate)} ` +
              `within ${timeoutMs} ms; reports: ${
                stringifyLine(this.reports.slice(-10))
              }${this.#tail()}`,
          ),
        );
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /**
   * Waits `waitMs` and rejects if a not yet taken report matching
   * `predicate` is present (the matching report is not taken).
   */
  async expectNone(
    predicate: PeerReportType | ((report: PeerReport) => boolean),
    waitMs = 200,
  ): Promise<void> {
    const pred = typeof predicate === "string"
      ? (r: PeerReport) => r.type === predicate
      : predicate;
    await new Promise((resolve) => setTimeout(resolve, waitMs));
    const found = this.reports.find((r) => !this.#consumed.has(r) && pred(r));
    if (found) {
      throw new Error(
        `peer ${this.role}: unexpected report ${stringifyLine(found)}`,
      );
    }
  }

  /**
   * Closes stdin (the peer then closes its server/client and exits),
   * waits for the exit and kills the process after `timeoutMs`.
   */
  close(timeoutMs = 5000): Promise<void> {
    this.#closing ??= this.#close(timeoutMs);
    return this.#closing;
  }

  /**
   * Kills the process (default SIGKILL: no graceful close, the OS drops its
   * sockets) and waits for it to end.
   */
  async kill(signal: Deno.Signal = "SIGKILL"): Promise<void> {
    try {
      this.#child.kill(signal);
    } catch {
      // already exited
    }
    await this.status;
    await this.close();
  }

  /** Same as {@linkcode Peer.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // --- typed shortcuts (server)

  /** Server: `set_status`. */
  setStatus(status: Status): Promise<void> {
    return this.request({ cmd: "set_status", status });
  }

  /** Server: make the connected callback raise `error` for `clientName`. */
  setConnectError(clientName: string, error: string | null): Promise<void> {
    return this.request({ cmd: "set_connect_error", clientName, error });
  }

  /** Server: configure the register callback. */
  setRegister(conf: PeerRegisterConf): Promise<void> {
    return this.request({ cmd: "set_register", ...conf });
  }

  /** Server: result of the query callback. */
  setQuery(result: QueryResult): Promise<void> {
    return this.request({
      cmd: "set_query",
      result: queryResultToPeer(result),
    });
  }

  /** Server: `notify_events`; resolves when it returned. */
  notify(
    events: readonly Event[],
    persisted = false,
    withAck = false,
    timeoutMs?: number,
  ): Promise<void> {
    return this.request({
      cmd: "notify",
      events: events.map(eventToPeer),
      persisted,
      withAck,
    }, timeoutMs);
  }

  /** Server: `get_conn_infos`. */
  getConnInfos(): Promise<PeerConnInfo[]> {
    return this.request({ cmd: "get_conn_infos" });
  }

  // --- typed shortcuts (client)

  /** Client: `register`; the events, or null (failure / no response). */
  async register(
    events: readonly RegisterEvent[],
    withResponse = false,
  ): Promise<Event[] | null> {
    const result = await this.request<PeerEvent[] | null>({
      cmd: "register",
      events: events.map(registerEventToPeer),
      withResponse,
    });
    return result === null ? null : result.map(eventFromPeer);
  }

  /** Client: `query`. */
  async query(params: QueryParams): Promise<QueryResult> {
    const result = await this.request<PeerQueryResult>({
      cmd: "query",
      params: queryParamsToPeer(params),
    });
    return queryResultFromPeer(result);
  }

  /** Client: current status and whether the client is open. */
  getStatus(): Promise<{ status: Status; isOpen: boolean }> {
    return this.request({ cmd: "get_status" });
  }

  // --- typed shortcuts (both)

  /** Opens or closes (re-arms) a named gate. */
  gate(name: string, open: boolean): Promise<void> {
    return this.request({ cmd: "gate", name, open });
  }

  /** Makes a callback wait on a gate (null: no gate). */
  setCallbackGate(callback: PeerCallback, gate: string | null): Promise<void> {
    return this.request({ cmd: "set_callback_gate", callback, gate });
  }

  /** Closes the reference server/client (the process keeps running). */
  closeEndpoint(): Promise<void> {
    return this.request({ cmd: "close" });
  }

  // --- internals

  #write(obj: unknown): void {
    if (this.#inputClosed) {
      throw new Error(`peer ${this.role}: stdin already closed`);
    }
    const line = stringifyLine(obj);
    if (this.#debug) console.error(`[${this.role} ${this.pid} <] ${line}`);
    this.#writer.write(this.#encoder.encode(line + "\n")).catch((e) => {
      if (this.#debug) console.error(`[${this.role}] write failed: ${e}`);
    });
  }

  async #readStdout(): Promise<void> {
    const reader = this.#child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let buffer = "";
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let index: number;
        while ((index = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, index);
          buffer = buffer.slice(index + 1);
          if (line.trim()) this.#onLine(line);
        }
      }
      if (buffer.trim()) this.#onLine(buffer);
    } catch (e) {
      if (this.#debug) console.error(`[${this.role}] stdout failed: ${e}`);
    } finally {
      reader.releaseLock();
      await this.#stderrDone?.catch(() => {});
      this.#onEnd();
    }
  }

  async #readStderr(): Promise<void> {
    const reader = this.#child.stderr.pipeThrough(new TextDecoderStream())
      .getReader();
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        this.#stderr += value;
        if (this.#debug) {
          for (const line of value.split("\n")) {
            if (line) console.error(`[${this.role} ${this.pid} !] ${line}`);
          }
        }
      }
    } catch {
      // process gone
    } finally {
      reader.releaseLock();
    }
  }

  #onLine(text: string): void {
    if (this.#debug) console.error(`[${this.role} ${this.pid} >] ${text}`);
    let line: PeerLine;
    try {
      line = parseLine(text) as PeerLine;
    } catch {
      line = { type: "error", seq: -1, message: `unparsable line: ${text}` };
    }
    this.lines.push(line);
    if (line.type === "reply") {
      const pending = this.#pending.get(line.id);
      if (pending) {
        this.#pending.delete(line.id);
        pending.resolve(line);
      }
      return;
    }
    this.reports.push(line);
    if (!this.#startup && STARTUP_TYPES.has(line.type)) {
      this.#startup = line;
      this.#readyResolve(line);
    }
    for (const waiter of this.#waiters) {
      if (waiter.predicate(line)) {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        this.#consumed.add(line);
        waiter.resolve(line);
        break;
      }
    }
  }

  #onEnd(): void {
    this.#ended = true;
    const error = this.#endedError("pending");
    if (!this.#startup) this.#readyReject(error);
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
    for (const waiter of this.#waiters) waiter.reject(error);
    this.#waiters = [];
  }

  #endedError(what: string): Error {
    return new Error(
      `peer ${this.role}: ${what}: peer process ended or closed${this.#tail()}`,
    );
  }

  #tail(): string {
    const text = this.#stderr.trim();
    return text ? `\n--- peer stderr ---\n${text.slice(-4000)}` : "";
  }

  async #close(timeoutMs: number): Promise<void> {
    if (!this.#inputClosed) {
      this.#inputClosed = true;
      await this.#writer.close().catch(() => {});
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        try {
          this.#child.kill("SIGKILL");
        } catch {
          // already exited
        }
        resolve();
      }, timeoutMs);
    });
    try {
      await Promise.race([this.status, killed]);
      await this.status;
    } finally {
      clearTimeout(timer);
    }
    await this.#stdoutDone;
    await this.#stderrDone;
  }
}

function describe(
  predicate: string | ((report: PeerReport) => boolean),
): string {
  return typeof predicate === "string"
    ? JSON.stringify(predicate)
    : predicate.toString().slice(0, 200);
}

/**
 * Spawns `peer.py <role> ...args` and (unless `waitReady` is false) waits
 * for its startup report: `listening` for a server (rejects on `fatal`),
 * `init`, `init_error` or `connect_error` for a client (all resolve; check
 * `peer.startup`). The process is closed again if startup fails.
 */
export async function startPeer(
  role: "server" | "client",
  args: string[],
  options: StartOptions = {},
): Promise<Peer> {
  const peer = new Peer(role, args);
  if (options.waitReady === false) return peer;
  const timeoutMs = options.readyTimeoutMs ?? 10000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const report = await Promise.race([
      peer.ready,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(new Error(`peer ${role}: no startup within ${timeoutMs}ms`)),
          timeoutMs,
        );
      }),
    ]);
    if (report.type === "fatal") {
      throw new Error(`peer ${role} failed to start: ${report.error}`);
    }
    return peer;
  } catch (e) {
    await peer.close();
    if (e instanceof Error && peer.stderr) {
      e.message += `\n--- peer stderr ---\n${peer.stderr.slice(-4000)}`;
    }
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

// ------------------------------------------------------------ conversions

const HEX = Array.from(
  { length: 256 },
  (_, i) => i.toString(16).padStart(2, "0"),
);

/** Bytes to lower-case hex. */
export function bytesToHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += HEX[b];
  return s;
}

/** Hex (either case) to bytes. */
export function hexToBytes(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new Error(`invalid hex: ${hex.slice(0, 40)}`);
  }
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) {
    bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  }
  return bytes;
}

function safeInt(value: unknown, what: string): number {
  if (typeof value === "number" && Number.isSafeInteger(value)) return value;
  throw new RangeError(`${what}: not a safe integer: ${String(value)}`);
}

/** Domain Timestamp to the boundary. */
export function timestampToPeer(t: Timestamp): PeerTimestamp {
  return { s: BigInt(t.s).toString(), us: t.us };
}

/** Boundary Timestamp to the domain (`s` number when safe, else bigint). */
export function timestampFromPeer(
  t: { s: string | number | bigint; us: number },
): Timestamp {
  const big = BigInt(t.s);
  const n = Number(big);
  return {
    s: Number.isSafeInteger(n) ? n : big,
    us: safeInt(t.us, "timestamp us"),
  };
}

function optTimestampToPeer(
  t: Timestamp | null | undefined,
): PeerTimestamp | null {
  return t == null ? null : timestampToPeer(t);
}

function optTimestampFromPeer(
  t: PeerTimestamp | null | undefined,
): Timestamp | null {
  return t == null ? null : timestampFromPeer(t);
}

/** Domain EventId to the boundary. */
export function eventIdToPeer(id: EventId): PeerEventId {
  return { server: id.server, session: id.session, instance: id.instance };
}

/** Boundary EventId to the domain (unsafe integers throw). */
export function eventIdFromPeer(id: PeerEventId): EventId {
  return {
    server: safeInt(id.server, "event id server"),
    session: safeInt(id.session, "event id session"),
    instance: safeInt(id.instance, "event id instance"),
  };
}

/** Domain payload to the boundary. */
export function payloadToPeer(
  p: EventPayload | null | undefined,
): PeerPayload {
  if (p == null) return null;
  if (p.kind === "binary") {
    return { kind: "binary", type: p.type, data: bytesToHex(p.data) };
  }
  // A text kept goes as the text: the peer decodes it as the reference.
  if (p instanceof JsonTextPayload) {
    return { kind: "json", data: p.data, text: p.text };
  }
  return { kind: "json", data: p.data };
}

/** Boundary payload to the domain. */
export function payloadFromPeer(
  p: PeerPayload | undefined,
): EventPayload | null {
  if (p == null) return null;
  if (p.kind === "binary") {
    return { kind: "binary", type: p.type, data: hexToBytes(p.data) };
  }
  return { kind: "json", data: p.data };
}

/** Domain Event to the boundary. */
export function eventToPeer(e: Event): PeerEvent {
  return {
    id: eventIdToPeer(e.id),
    type: [...e.type],
    timestamp: timestampToPeer(e.timestamp),
    sourceTimestamp: optTimestampToPeer(e.sourceTimestamp),
    payload: payloadToPeer(e.payload),
  };
}

/** Boundary Event to the domain. */
export function eventFromPeer(e: PeerEvent): Event {
  return {
    id: eventIdFromPeer(e.id),
    type: [...e.type],
    timestamp: timestampFromPeer(e.timestamp),
    sourceTimestamp: optTimestampFromPeer(e.sourceTimestamp),
    payload: payloadFromPeer(e.payload),
  };
}

/** Domain RegisterEvent to the boundary. */
export function registerEventToPeer(e: RegisterEvent): PeerRegisterEvent {
  return {
    type: [...e.type],
    sourceTimestamp: optTimestampToPeer(e.sourceTimestamp),
    payload: payloadToPeer(e.payload),
  };
}

/** Boundary RegisterEvent to the domain (absent fields as null). */
export function registerEventFromPeer(e: PeerRegisterEvent): RegisterEvent {
  return {
    type: [...e.type],
    sourceTimestamp: optTimestampFromPeer(e.sourceTimestamp),
    payload: payloadFromPeer(e.payload),
  };
}

function typesToPeer(
  types: readonly (readonly string[])[] | null | undefined,
): string[][] | null | undefined {
  return types == null ? types : types.map((t) => [...t]);
}

function optIdToPeer(id: EventId | null | undefined) {
  return id == null ? id : eventIdToPeer(id);
}

/**
 * Domain QueryParams to the boundary. Fields left `undefined` stay absent
 * (the reference then uses its defaults); `null` is sent as None.
 */
export function queryParamsToPeer(p: QueryParams): PeerQueryParams {
  const out: Record<string, unknown> = { kind: p.kind };
  const set = (key: string, value: unknown) => {
    if (value !== undefined) out[key] = value;
  };
  switch (p.kind) {
    case "latest":
      set("eventTypes", typesToPeer(p.eventTypes));
      break;
    case "timeseries":
      set("eventTypes", typesToPeer(p.eventTypes));
      for (const key of ["tFrom", "tTo", "sourceTFrom", "sourceTTo"] as const) {
        const t = p[key];
        set(key, t === undefined ? undefined : optTimestampToPeer(t));
      }
      set("order", p.order);
      set("orderBy", p.orderBy);
      set("maxResults", p.maxResults);
      set("lastEventId", optIdToPeer(p.lastEventId));
      break;
    case "server":
      set("serverId", p.serverId);
      set("persisted", p.persisted);
      set("maxResults", p.maxResults);
      set("lastEventId", optIdToPeer(p.lastEventId));
      break;
  }
  return out as PeerQueryParams;
}

function typesFromPeer(
  types: string[][] | null | undefined,
): string[][] | null {
  return types == null ? null : types.map((t) => [...t]);
}

function optIdFromPeer(id: PeerEventId | null | undefined): EventId | null {
  return id == null ? null : eventIdFromPeer(id);
}

function optIntFromPeer(n: unknown, what: string): number | null {
  return n == null ? null : safeInt(n, what);
}

/**
 * Boundary QueryParams to the domain, every field present (`null` for
 * None; the reference's defaults for absent order/orderBy/persisted).
 */
export function queryParamsFromPeer(p: PeerQueryParams): QueryParams {
  switch (p.kind) {
    case "latest":
      return { kind: "latest", eventTypes: typesFromPeer(p.eventTypes) };
    case "timeseries":
      return {
        kind: "timeseries",
        eventTypes: typesFromPeer(p.eventTypes),
        tFrom: optTimestampFromPeer(p.tFrom),
        tTo: optTimestampFromPeer(p.tTo),
        sourceTFrom: optTimestampFromPeer(p.sourceTFrom),
        sourceTTo: optTimestampFromPeer(p.sourceTTo),
        order: p.order ?? "descending",
        orderBy: p.orderBy ?? "timestamp",
        maxResults: optIntFromPeer(p.maxResults, "maxResults"),
        lastEventId: optIdFromPeer(p.lastEventId),
      };
    case "server":
      return {
        kind: "server",
        serverId: safeInt(p.serverId, "serverId"),
        persisted: p.persisted ?? false,
        maxResults: optIntFromPeer(p.maxResults, "maxResults"),
        lastEventId: optIdFromPeer(p.lastEventId),
      };
  }
}

/** Domain QueryResult to the boundary. */
export function queryResultToPeer(r: QueryResult): PeerQueryResult {
  return { events: r.events.map(eventToPeer), moreFollows: r.moreFollows };
}

/** Boundary QueryResult to the domain. */
export function queryResultFromPeer(r: PeerQueryResult): QueryResult {
  return { events: r.events.map(eventFromPeer), moreFollows: r.moreFollows };
}

// ------------------------------------------------------------ wire tap

/** One Chatter frame seen by a {@linkcode Tap}. */
export interface TapFrame {
  /** Connection number through the tap, from 1. */
  conn: number;
  /** `c2s`: from the connecting side; `s2c`: from the listening side. */
  dir: "c2s" | "s2c";
  /** `HatChatter.Msg` id. */
  id: number;
  /** Id of the conversation's first message. */
  first: number;
  /** Owner flag. */
  owner: boolean;
  /** Token flag. */
  token: boolean;
  /** Last flag. */
  last: boolean;
  /** Payload type name, e.g. `HatChatter.Ping`. */
  type: string;
  /** Payload byte length. */
  size: number;
  /** `performance.now()` when the frame was complete. */
  at: number;
  /** Whether the tap dropped it instead of forwarding it. */
  dropped: boolean;
  /** The payload's bytes, when the tap keeps them (`keepData`). */
  data?: Uint8Array;
}

/** Options of {@linkcode startTap}. */
export interface TapOptions {
  /** Frames for which this returns true are not forwarded. */
  drop?: (frame: TapFrame) => boolean;
  /** Keep each frame's payload bytes (`TapFrame.data`). */
  keepData?: boolean;
}

/**
 * A TCP relay that decodes every Chatter frame passing through it (both
 * directions) and can drop selected frames: proof of what actually
 * crossed the wire (e.g. Ping/Pong, `last` flags, absent replies).
 */
export class Tap implements AsyncDisposable {
  /** Every frame seen, in order of completion. */
  readonly frames: TapFrame[] = [];
  readonly #listener: Deno.Listener;
  readonly #target: { hostname: string; port: number };
  readonly #drop?: (frame: TapFrame) => boolean;
  readonly #keepData: boolean;
  readonly #conns = new Set<Deno.Conn>();
  readonly #tasks = new Set<Promise<void>>();
  #nextConn = 1;
  #closed = false;
  #accepting: Promise<void>;

  constructor(
    target: { hostname: string; port: number },
    options: TapOptions = {},
  ) {
    this.#target = target;
    this.#drop = options.drop;
    this.#keepData = options.keepData ?? false;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#accepting = this.#accept();
  }

  /** Address to connect to instead of the target. */
  get addr(): { hostname: string; port: number } {
    return {
      hostname: "127.0.0.1",
      port: (this.#listener.addr as Deno.NetAddr).port,
    };
  }

  /** Port of {@linkcode Tap.addr}. */
  get port(): number {
    return this.addr.port;
  }

  /** Frames matching the filter. */
  select(filter: Partial<Pick<TapFrame, "conn" | "dir" | "type">>): TapFrame[] {
    return this.frames.filter((f) =>
      (filter.conn === undefined || f.conn === filter.conn) &&
      (filter.dir === undefined || f.dir === filter.dir) &&
      (filter.type === undefined || f.type === filter.type)
    );
  }

  /** Closes the listener and every relayed connection. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#listener.close();
      } catch {
        // already closed
      }
      for (const conn of this.#conns) closeQuietly(conn);
    }
    await this.#accepting;
    while (this.#tasks.size) await Promise.all([...this.#tasks]);
  }

  /** Same as {@linkcode Tap.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #spawn(task: Promise<void>): void {
    const t = task.catch(() => {}).finally(() => this.#tasks.delete(t));
    this.#tasks.add(t);
  }

  async #accept(): Promise<void> {
    for (;;) {
      let inbound: Deno.Conn;
      try {
        inbound = await this.#listener.accept();
      } catch {
        return;
      }
      this.#spawn(this.#relay(inbound, this.#nextConn++));
    }
  }

  async #relay(inbound: Deno.Conn, n: number): Promise<void> {
    this.#conns.add(inbound);
    let outbound: Deno.Conn | undefined;
    let pumps: Promise<void>[] = [];
    try {
      outbound = await Deno.connect(this.#target);
      this.#conns.add(outbound);
      if (this.#closed) return;
      pumps = [
        this.#pump(inbound, outbound, n, "c2s"),
        this.#pump(outbound, inbound, n, "s2c"),
      ];
      await Promise.race(pumps);
    } catch {
      // either side went away
    } finally {
      closeQuietly(inbound);
      this.#conns.delete(inbound);
      if (outbound) {
        closeQuietly(outbound);
        this.#conns.delete(outbound);
      }
      await Promise.allSettled(pumps);
    }
  }

  async #pump(
    from: Deno.Conn,
    to: Deno.Conn,
    conn: number,
    dir: "c2s" | "s2c",
  ): Promise<void> {
    let buf = new Uint8Array(64 * 1024);
    let start = 0;
    let end = 0;
    for (;;) {
      if (end === buf.length) {
        const size = end - start < buf.length / 2 ? buf.length : buf.length * 2;
        const next = new Uint8Array(size);
        next.set(buf.subarray(start, end));
        buf = next;
        end -= start;
        start = 0;
      }
      const n = await from.read(buf.subarray(end));
      if (n === null) return;
      end += n;
      for (;;) {
        const len = frameBodyLength(buf, start, end, 1 << 30);
        if (len < 0) break;
        const bodyStart = start + 1 + buf[start];
        if (end - bodyStart < len) break;
        const msg = readChatterMsg(buf, bodyStart, bodyStart + len);
        const frame: TapFrame = {
          conn,
          dir,
          ...msg.header(),
          size: msg.data.length,
          at: performance.now(),
          dropped: false,
        };
        if (this.#keepData) frame.data = msg.data.slice();
        frame.dropped = this.#drop?.(frame) ?? false;
        this.frames.push(frame);
        if (!frame.dropped) {
          await writeAll(to, buf.subarray(start, bodyStart + len));
        }
        start = bodyStart + len;
      }
      if (start === end) start = end = 0;
    }
  }
}

/** Starts a {@linkcode Tap} relaying to `target`. */
export function startTap(
  target: { hostname: string; port: number },
  options: TapOptions = {},
): Tap {
  return new Tap(target, options);
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

// ------------------------------------------------------------ test helpers

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Items pushed by callbacks (of our client or server), taken in order by
 * the test with a timeout.
 */
export class Inbox<T> {
  /** Every item pushed, in order (taken or not). */
  readonly items: T[] = [];
  #taken = 0;
  #waiter: (() => void) | null = null;

  /** Adds an item. */
  push(item: T): void {
    this.items.push(item);
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
  }

  /** Number of items not taken yet. */
  get pending(): number {
    return this.items.length - this.#taken;
  }

  /** Takes the next item, waiting up to `timeoutMs`. */
  async next(timeoutMs = 5000): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    while (this.#taken >= this.items.length) {
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new Error(`inbox: nothing within ${timeoutMs} ms`);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
    return this.items[this.#taken++];
  }

  /** Waits `waitMs`, then fails if an item not taken yet is present. */
  async expectNone(waitMs = 200): Promise<void> {
    await sleep(waitMs);
    if (this.pending) {
      throw new Error(
        `inbox: unexpected item ${stringifyLine(this.items[this.#taken])}`,
      );
    }
  }
}

/** Promise state, observable without awaiting. */
export function track<T>(
  promise: Promise<T>,
): { promise: Promise<T>; settled: () => boolean } {
  let settled = false;
  const p = promise.finally(() => {
    settled = true;
  });
  p.catch(() => {});
  return { promise: p, settled: () => settled };
}

/**
 * Runs `fn` on disposal, e.g. to release a held callback before the
 * client/server owning it is closed (declare it after that resource).
 */
export function defer(fn: () => void | Promise<void>): AsyncDisposable {
  return { [Symbol.asyncDispose]: async () => await fn() };
}

/**
 * A value of every JSON kind, named, sent as payloads both ways; the last
 * three go through our float writer's repr and decimal paths.
 */
export const JSON_VALUES: [string, JsonValue][] = [
  ["null", null],
  ["true", true],
  ["false", false],
  ["zero", 0],
  ["int", 42],
  ["negative int", -7],
  ["max safe", Number.MAX_SAFE_INTEGER],
  ["min safe", Number.MIN_SAFE_INTEGER],
  ["2^53", 2n ** 53n],
  ["2^64 + 1", 2n ** 64n + 1n],
  ["-(2^70)", -(2n ** 70n)],
  ["float", 1.5],
  ["negative float", -0.25],
  ["negative zero", -0],
  ["tiny float", 5e-324],
  ["huge float", 1.7976931348623157e308],
  ["empty string", ""],
  ["string", 'tekst ž "q" \\ \n 😀'],
  ["empty array", []],
  ["empty object", {}],
  ["array", [1, "two", null, true, 2.5]],
  ["object", { a: 1, b: "x", c: null, d: false }],
  ["nested", {
    l1: [{ l2: { l3: [[], {}, [null, { big: 2n ** 63n, f: 0.1 }]] } }],
    "ž": { "": [-(2n ** 53n) - 1n] },
  }],
  ["small float", 1e-5],
  ["decimals", 0.1 + 0.2],
  ["money", -1234.56],
];
