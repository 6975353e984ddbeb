// The Event Server's configuration file (`--conf server.json`): the
// reference's (hat-event 0.9 `hat-event://server.yaml` with the LMDB
// backend's `hat-event://backends/lmdb.yaml`) keys where they mean the
// same thing, our own for what it lacks. Checked whole: every error is
// reported, one line each. README.md ("Configuration file") documents
// every key, what is mapped and what is refused.

import type {
  EventServerOptions,
  ModuleConf,
  ModuleInfo,
  ModuleSpec,
  StorageRules,
} from "../event_server/mod.ts";
import type {
  Condition,
  JsonPath,
  RetentionLimit,
  StorageCondition,
  TimeseriesPartition,
} from "../store/storage_rules.ts";
import { sizeInBytes } from "./_flags.ts";

/** The configuration file is wrong: one line per error, all of them. */
export class ConfigError extends Error {
  /** The file. */
  readonly path: string;
  /** One line per error, each naming the key. */
  readonly errors: string[];

  constructor(path: string, errors: string[]) {
    super(`${path}: ${errors.join("; ")}`);
    this.name = "ConfigError";
    this.path = path;
    this.errors = errors;
  }
}

/** What a configuration file gives. */
export interface ServerConfig {
  /** Options, only those the file sets. */
  options: Partial<EventServerOptions>;
  /** Keys accepted but ignored, one line each. */
  warnings: string[];
}

/** `backend.module` values taken: the reference's LMDB one, and ours. */
export const BACKENDS = ["hat.event.backends.lmdb", "sqlite"];

type Obj = Record<string, unknown>;

// The limits of the `limits` section: key, option, kind, least value.
const LIMITS: [
  string,
  keyof EventServerOptions,
  "int" | "size" | "ms",
  number,
][] = [
  ["max_frame_size", "maxFrameSize", "size", 1024],
  ["init_max_frame_size", "initMaxFrameSize", "size", 1024],
  ["init_timeout_ms", "initTimeout", "ms", 1],
  ["ping_delay_ms", "pingDelay", "ms", 0],
  ["ping_timeout_ms", "pingTimeout", "ms", 1],
  ["receive_queue_size", "receiveQueueSize", "int", 1],
  ["send_queue_size", "sendQueueSize", "int", 1],
  ["send_queue_bytes", "sendQueueBytes", "size", 1024],
  ["max_subscriptions", "maxSubscriptions", "int", 0],
  ["max_notify_bytes", "maxNotifyBytes", "size", 1024],
  ["max_result_bytes", "maxResultBytes", "size", 1024],
  ["max_client_name_bytes", "maxClientNameBytes", "int", 1],
  ["max_event_type_segments", "maxEventTypeSegments", "int", 1],
  ["max_event_type_bytes", "maxEventTypeBytes", "size", 1],
  ["max_payload_bytes", "maxPayloadBytes", "size", 0],
  ["module_timeout_ms", "moduleTimeout", "ms", 1],
  ["module_max_failures", "moduleMaxFailures", "int", 0],
  ["max_session_events", "maxSessionEvents", "int", 1],
];

/**
 * Read, check and load a configuration file: modules are imported (paths
 * relative to the file), TLS files read.
 *
 * @throws {ConfigError} With every error found.
 */
export async function loadServerConfig(path: string): Promise<ServerConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new ConfigError(path, [`cannot read: ${(e as Error).message}`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(path, [`not JSON: ${(e as Error).message}`]);
  }
  const base = new URL(
    path.startsWith("/") ? `file://${path}` : path,
    `file://${Deno.cwd()}/`,
  );
  const c = new Checker();
  const { options, modules, tls } = c.server(json, base);
  // Files are loaded even when the rest has errors: every error is
  // reported in one go.
  if (modules.length > 0) options.modules = await c.loadModules(modules);
  if (tls) {
    const [cert, key] = await Promise.all([
      c.readText("eventer_server.tls.cert", tls.cert),
      c.readText("eventer_server.tls.key", tls.key),
    ]);
    options.tls = { cert, key };
  }
  if (c.errors.length > 0) throw new ConfigError(path, c.errors);
  return { options, warnings: c.warnings };
}

interface ModuleRef {
  key: string;
  url: URL;
  conf: ModuleConf;
}

class Checker {
  errors: string[] = [];
  warnings: string[] = [];

  server(json: unknown, base: URL): {
    options: Partial<EventServerOptions>;
    modules: ModuleRef[];
    tls: { cert: string; key: string } | null;
  } {
    const o: Partial<EventServerOptions> = {};
    const modules: ModuleRef[] = [];
    let tls: { cert: string; key: string } | null = null;
    let name: string | undefined;
    let monitor:
      | { addr: { hostname: string; port: number }; group: string }
      | undefined;
    const top = this.object("the configuration", json);
    if (top === undefined) return { options: o, modules, tls };
    for (const [key, value] of Object.entries(top)) {
      switch (key) {
        case "type":
          if (value !== "event") this.error(key, 'must be "event"');
          break;
        case "version":
          this.string(key, value);
          break;
        case "name":
          // The component name in a monitor group.
          name = this.string(key, value);
          break;
        case "log":
          this.warn(
            "log is ignored: this server logs to stderr (more with --verbose)",
          );
          break;
        case "server_id":
          o.serverId = this.integer(key, value, 0);
          break;
        case "server_token":
          if (value !== null) o.serverToken = this.string(key, value);
          break;
        case "eventer_server":
          tls = this.eventerServer(value, o);
          break;
        case "adminer_server":
          this.error(
            key,
            "is not supported: this server has no adminer server (remove it)",
          );
          break;
        case "monitor_component":
          monitor = this.monitorComponent(value);
          break;
        case "backend":
          this.backend(value, o);
          break;
        case "modules": {
          const list = this.array(key, value);
          list?.forEach((m, i) => {
            const ref = this.module(`modules[${i}]`, m, base);
            if (ref) modules.push(ref);
          });
          break;
        }
        case "limits":
          this.limits(value, o);
          break;
        default:
          this.warn(`unknown key ${key} ignored`);
      }
    }
    if (monitor) o.monitor = { ...monitor, name };
    return { options: o, modules, tls };
  }

  // The reference's monitor_component: host (default 127.0.0.1), port
  // (default 23010), group.
  monitorComponent(
    value: unknown,
  ): { addr: { hostname: string; port: number }; group: string } | undefined {
    const m = this.object("monitor_component", value);
    if (m === undefined) return;
    let hostname = "127.0.0.1";
    let port = 23010;
    let group: string | undefined;
    for (const [key, v] of Object.entries(m)) {
      const name = `monitor_component.${key}`;
      switch (key) {
        case "host":
          hostname = this.string(name, v) ?? hostname;
          break;
        case "port":
          port = this.integer(name, v, 1, 65535) ?? port;
          break;
        case "group":
          group = this.string(name, v);
          break;
        default:
          this.error(name, "is not a key of monitor_component");
      }
    }
    if (group === undefined) {
      this.error("monitor_component.group", "is missing");
      return;
    }
    return { addr: { hostname, port }, group };
  }

  eventerServer(
    value: unknown,
    o: Partial<EventServerOptions>,
  ): { cert: string; key: string } | null {
    const e = this.object("eventer_server", value);
    if (e === undefined) return null;
    let tls = null;
    for (const [key, v] of Object.entries(e)) {
      const name = `eventer_server.${key}`;
      switch (key) {
        case "host":
          o.hostname = this.string(name, v);
          break;
        case "port":
          o.port = this.integer(name, v, 0, 65535);
          break;
        case "require_token":
          o.requireToken = this.boolean(name, v);
          break;
        case "tls": {
          const t = this.object(name, v);
          if (t === undefined) break;
          this.only(name, t, ["cert", "key"]);
          const cert = this.string(`${name}.cert`, t.cert);
          const key = this.string(`${name}.key`, t.key);
          if (cert !== undefined && key !== undefined) tls = { cert, key };
          break;
        }
        default:
          this.error(name, "is not a key of eventer_server");
      }
    }
    return tls;
  }

  backend(value: unknown, o: Partial<EventServerOptions>): void {
    const b = this.object("backend", value);
    if (b === undefined) return;
    const storage: {
      -readonly [K in keyof StorageRules]: StorageRules[K];
    } = {};
    for (const [key, v] of Object.entries(b)) {
      const name = `backend.${key}`;
      switch (key) {
        case "module": {
          const m = this.string(name, v);
          if (m !== undefined && !BACKENDS.includes(m)) {
            this.error(
              name,
              `${m} is not supported: use ${
                BACKENDS.join(" or ")
              } (both are this server's SQLite store)`,
            );
          }
          break;
        }
        case "db_path": {
          const db = this.string(name, v);
          if (db === "") this.error(name, "must not be empty");
          else o.db = db;
          break;
        }
        case "identifier":
          if (v !== null) this.string(name, v);
          break;
        case "flush_period": {
          const s = this.number(name, v, 0, 60);
          if (s !== undefined) o.flushDelay = Math.round(s * 1000);
          break;
        }
        case "cleanup_period": {
          const s = this.number(name, v, 0.001, 86_400);
          if (s !== undefined) storage.cleanupPeriod = Math.round(s * 1000);
          break;
        }
        case "conditions":
          storage.conditions = this.array(name, v)?.map((c, i) =>
            this.storageCondition(`${name}[${i}]`, c)
          );
          break;
        case "latest": {
          const l = this.object(name, v);
          if (l === undefined) break;
          this.only(name, l, ["subscriptions"]);
          storage.latest = {
            subscriptions: this.eventTypes(
              `${name}.subscriptions`,
              l.subscriptions,
            ),
          };
          break;
        }
        case "timeseries":
          storage.timeseries = this.array(name, v)?.map((p, i) =>
            this.partition(`${name}[${i}]`, p)
          );
          break;
        case "timeseries_max_results":
          o.maxResults = this.integer(name, v, 1);
          break;
        case "timeseries_event_type_cache_size":
          this.integer(name, v, 0);
          break;
        case "synchronous":
          if (v !== "full" && v !== "normal") {
            this.error(name, 'must be "full" or "normal"');
          } else o.synchronous = v;
          break;
        case "writer_thread":
          o.writerThread = this.boolean(name, v);
          break;
        case "session_block":
          o.sessionBlock = this.integer(name, v, 1);
          break;
        case "event_type_cache_size":
          o.eventTypeCacheSize = this.integer(name, v, 1);
          break;
        default:
          this.warn(`unknown key ${name} ignored`);
      }
    }
    if (Object.keys(storage).length > 0) o.storage = storage;
  }

  storageCondition(name: string, value: unknown): StorageCondition {
    const c = this.object(name, value) ?? {};
    this.only(name, c, ["subscriptions", "condition"]);
    return {
      subscriptions: this.eventTypes(`${name}.subscriptions`, c.subscriptions),
      condition: this.condition(`${name}.condition`, c.condition),
    };
  }

  condition(name: string, value: unknown): Condition {
    const c = this.object(name, value) ?? {};
    switch (c.type) {
      case "all":
      case "any": {
        this.only(name, c, ["type", "conditions"]);
        const list = this.array(`${name}.conditions`, c.conditions) ?? [];
        return {
          type: c.type,
          conditions: list.map((x, i) =>
            this.condition(`${name}.conditions[${i}]`, x)
          ),
        };
      }
      case "json": {
        this.only(name, c, ["type", "data_path", "data_type", "data_value"]);
        const r: {
          type: "json";
          dataPath?: JsonPath;
          dataType?: NonNullable<
            Extract<Condition, { type: "json" }>["dataType"]
          >;
          dataValue?: unknown;
        } = { type: "json" };
        if ("data_path" in c) {
          r.dataPath = this.jsonPath(`${name}.data_path`, c.data_path);
        }
        if ("data_type" in c) {
          const types = [
            "null",
            "boolean",
            "string",
            "number",
            "array",
            "object",
          ] as const;
          const t = types.find((x) => x === c.data_type);
          if (t === undefined) {
            this.error(
              `${name}.data_type`,
              `must be one of ${types.join(", ")}`,
            );
          } else r.dataType = t;
        }
        if ("data_value" in c) r.dataValue = c.data_value;
        return r;
      }
      default:
        this.error(`${name}.type`, 'must be "all", "any" or "json"');
        return { type: "all", conditions: [] };
    }
  }

  jsonPath(name: string, value: unknown): JsonPath {
    if (typeof value === "string") return value;
    if (Number.isInteger(value)) return value as number;
    if (Array.isArray(value)) {
      return value.map((p, i) => this.jsonPath(`${name}[${i}]`, p));
    }
    this.error(name, "must be a string, an integer or a list of them");
    return [];
  }

  partition(name: string, value: unknown): TimeseriesPartition {
    const p = this.object(name, value) ?? {};
    this.only(name, p, ["order_by", "subscriptions", "limit"]);
    let orderBy: TimeseriesPartition["orderBy"] = "timestamp";
    if (p.order_by === "SOURCE_TIMESTAMP") orderBy = "sourceTimestamp";
    else if (p.order_by !== "TIMESTAMP") {
      this.error(`${name}.order_by`, "must be TIMESTAMP or SOURCE_TIMESTAMP");
    }
    const r: {
      -readonly [K in keyof TimeseriesPartition]: TimeseriesPartition[K];
    } = {
      orderBy,
      subscriptions: this.eventTypes(`${name}.subscriptions`, p.subscriptions),
    };
    if ("limit" in p) {
      const l = this.object(`${name}.limit`, p.limit) ?? {};
      const limit: { -readonly [K in keyof RetentionLimit]: number } = {};
      for (const [key, v] of Object.entries(l)) {
        const at = `${name}.limit.${key}`;
        switch (key) {
          case "min_entries":
            limit.minEntries = this.number(at, v, 0);
            break;
          case "max_entries":
            limit.maxEntries = this.number(at, v, 0);
            break;
          case "duration": {
            const s = this.number(at, v, 0);
            if (s !== undefined) limit.duration = Math.round(s * 1000);
            break;
          }
          case "size":
            limit.size = this.number(at, v, 0);
            break;
          default:
            this.error(at, "is not a key of a limit");
        }
      }
      r.limit = limit;
    }
    return r;
  }

  module(name: string, value: unknown, base: URL): ModuleRef | undefined {
    const m = this.object(name, value);
    if (m === undefined) return undefined;
    const spec = this.string(`${name}.module`, m.module);
    if (spec === undefined) return undefined;
    const isUrl = /^[a-z][a-z0-9+.-]+:/i.test(spec);
    if (!isUrl && !/[/\\]|\.[cm]?[jt]s$/.test(spec)) {
      this.error(
        `${name}.module`,
        `${spec} looks like a Python module: give a TypeScript or ` +
          "JavaScript module file (a path relative to the configuration " +
          "file, or a URL)",
      );
      return undefined;
    }
    return { key: `${name}.module`, url: new URL(spec, base), conf: m };
  }

  async loadModules(refs: ModuleRef[]): Promise<ModuleSpec[]> {
    const specs: ModuleSpec[] = [];
    for (const ref of refs) {
      let info: ModuleInfo | undefined;
      try {
        const mod = await import(ref.url.href);
        info = mod.info;
      } catch (e) {
        this.error(
          ref.key,
          `${ref.url.href} cannot be imported: ${
            (e as Error).message.split("\n")[0]
          }`,
        );
        continue;
      }
      if (typeof info?.create !== "function") {
        this.error(
          ref.key,
          `${ref.url.href} does not export info with a create function`,
        );
        continue;
      }
      specs.push({ info, conf: ref.conf });
    }
    return specs;
  }

  limits(value: unknown, o: Partial<EventServerOptions>): void {
    const l = this.object("limits", value);
    if (l === undefined) return;
    for (const [key, v] of Object.entries(l)) {
      const name = `limits.${key}`;
      const limit = LIMITS.find(([k]) => k === key);
      if (limit === undefined) {
        this.error(name, "is not a limit (see --help)");
        continue;
      }
      const [, option, kind, min] = limit;
      const n = kind === "size"
        ? this.size(name, v, min)
        : this.integer(name, v, min, kind === "ms" ? 86_400_000 : undefined);
      if (n !== undefined) (o as Record<string, number>)[option] = n;
    }
  }

  async readText(name: string, path: string): Promise<string> {
    try {
      return await Deno.readTextFile(path);
    } catch (e) {
      this.error(name, `cannot read ${path}: ${(e as Error).message}`);
      return "";
    }
  }

  eventTypes(name: string, value: unknown): string[][] {
    const list = this.array(name, value) ?? [];
    return list.flatMap((t, i) => {
      if (Array.isArray(t) && t.every((s) => typeof s === "string")) {
        return [t as string[]];
      }
      this.error(`${name}[${i}]`, "must be an event type (a list of strings)");
      return [];
    });
  }

  only(name: string, o: Obj, keys: string[]): void {
    for (const key of Object.keys(o)) {
      if (!keys.includes(key)) {
        this.error(`${name}.${key}`, "is not a key here");
      }
    }
  }

  object(name: string, v: unknown): Obj | undefined {
    if (typeof v === "object" && v !== null && !Array.isArray(v)) {
      return v as Obj;
    }
    this.error(name, "must be an object");
    return undefined;
  }

  array(name: string, v: unknown): unknown[] | undefined {
    if (Array.isArray(v)) return v;
    this.error(name, "must be a list");
    return undefined;
  }

  string(name: string, v: unknown): string | undefined {
    if (typeof v === "string") return v;
    this.error(name, "must be a string");
    return undefined;
  }

  boolean(name: string, v: unknown): boolean | undefined {
    if (typeof v === "boolean") return v;
    this.error(name, "must be true or false");
    return undefined;
  }

  number(
    name: string,
    v: unknown,
    min = -Infinity,
    max = Infinity,
  ): number | undefined {
    if (typeof v === "number" && v >= min && v <= max) return v;
    this.error(
      name,
      `must be a number${
        max === Infinity ? ` >= ${min}` : ` in [${min}, ${max}]`
      } (seconds for a duration)`,
    );
    return undefined;
  }

  integer(
    name: string,
    v: unknown,
    min = Number.MIN_SAFE_INTEGER,
    max = Number.MAX_SAFE_INTEGER,
  ): number | undefined {
    if (
      Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max
    ) {
      return v as number;
    }
    this.error(
      name,
      `must be an integer${
        max === Number.MAX_SAFE_INTEGER ? ` >= ${min}` : ` in [${min}, ${max}]`
      }`,
    );
    return undefined;
  }

  size(name: string, v: unknown, min: number): number | undefined {
    let n = NaN;
    if (typeof v === "number") n = v;
    else if (typeof v === "string") n = sizeInBytes(v);
    if (Number.isSafeInteger(n) && n >= min) return n;
    this.error(
      name,
      `must be a size in bytes >= ${min}: an integer or a string such as "16MiB"`,
    );
    return undefined;
  }

  error(name: string, message: string): void {
    this.errors.push(`${name} ${message}`);
  }

  warn(message: string): void {
    this.warnings.push(message);
  }
}
