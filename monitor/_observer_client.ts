/**
 * The observer protocol of a component (SPEC-monitor §2, client behaviours
 * 1-4): MsgClient out, MsgServer and MsgClose in. The component's blessing
 * loop (`component.ts`) sits on top.
 *
 * @module
 */

import type { Connection, Msg } from "../common/chatter/mod.ts";
import { ProtocolError } from "../common/chatter/mod.ts";
import {
  type BlessingRes,
  type ComponentInfoRecord,
  ObserverMsgType,
  readMsgServer,
  type SbsInteger,
  writeMsgClient,
} from "../common/monitor/mod.ts";
import { abortable } from "../common/async/mod.ts";
import { sameState, type State, stateOf } from "./state.ts";

/** What the client reports to its owner. */
export interface ObserverHandlers {
  /** A new state (never one equal to the previous). */
  state(state: State): Promise<void> | void;
  /** MsgClose arrived; the client stops reading after it. */
  closeReq(): Promise<void> | void;
}

/** One component's connection to its local Monitor Server. */
export class ObserverClient {
  readonly #conn: Connection;
  readonly #name: string;
  readonly #group: string;
  readonly #data: string;
  #sent: BlessingRes | null = null;
  #cid: SbsInteger | null = null;
  #mid: SbsInteger | null = null;
  #records: ComponentInfoRecord[] = [];

  /**
   * @param conn The connection to the Monitor Server.
   * @param name Component name.
   * @param group Component group.
   * @param data Component data as JSON text.
   */
  constructor(conn: Connection, name: string, group: string, data: string) {
    this.#conn = conn;
    this.#name = name;
    this.#group = group;
    this.#data = data;
  }

  /**
   * Send MsgClient with `res`, unless the last one sent had the same
   * blessing response (client behaviour 2).
   *
   * @throws {ConnectionError} When the connection is closed.
   */
  async setBlessingRes(res: BlessingRes): Promise<void> {
    const sent = this.#sent;
    if (sent && sent.token === res.token && sent.ready === res.ready) return;
    this.#sent = { token: res.token, ready: res.ready };
    await this.#conn.send(ObserverMsgType.Client, (w) =>
      writeMsgClient(w, {
        name: this.#name,
        group: this.#group,
        data: this.#data,
        blessingRes: res,
      }));
  }

  /**
   * Read messages until MsgClose, the connection's end or `signal`.
   *
   * @throws {ConnectionError} When the connection closes.
   * @throws {ProtocolError} For a message other than MsgServer or MsgClose.
   * @throws {SbsError} For a malformed message.
   */
  async receiveLoop(
    handlers: ObserverHandlers,
    signal: AbortSignal,
  ): Promise<void> {
    for (;;) {
      const msg = await abortable(this.#conn.receive(), signal);
      if (msg.type === ObserverMsgType.Server) {
        const state = this.#processMsgServer(msg);
        if (state) await handlers.state(state);
      } else if (msg.type === ObserverMsgType.Close) {
        this.#conn.release(msg);
        await handlers.closeReq();
        return;
      } else {
        throw new ProtocolError(`unexpected observer message ${msg.type}`);
      }
    }
  }

  #processMsgServer(msg: Msg): State | null {
    const r = msg.reader();
    const m = readMsgServer(r);
    r.done();
    this.#conn.release(msg);
    if (
      m.cid === this.#cid && m.mid === this.#mid &&
      sameState(m.components, this.#records)
    ) return null;
    this.#cid = m.cid;
    this.#mid = m.mid;
    this.#records = m.components;
    return stateOf(m.cid, m.mid, m.components);
  }
}
