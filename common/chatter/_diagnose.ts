/**
 * Why a Chatter connection failed, said so that the reader knows what to
 * do: Deno's socket and TLS errors as errors with a code, and a first
 * frame that is no Chatter at all (HTTP, a TLS record, a banner) as
 * `NOT_EVENTER` or `TLS`. Only called once something failed: nothing here
 * is on the path of a message.
 *
 * @module
 */

import { EventerError } from "../errors.ts";
import type { Address } from "./address.ts";
import { ConnectionError, ProtocolError } from "./errors.ts";

/** `host:port`, as the log and the messages write an address. */
export function where(addr: Address): string {
  return `${addr.hostname}:${addr.port}`;
}

/** Deno's errors of a peer going away: ordinary, logged at debug level. */
export function isDisconnect(e: Error): boolean {
  return e instanceof Deno.errors.BrokenPipe ||
    e instanceof Deno.errors.ConnectionReset ||
    e instanceof Deno.errors.ConnectionAborted ||
    e instanceof Deno.errors.UnexpectedEof ||
    /close_notify/.test(e.message);
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/**
 * The error of a `Deno.connect` (or `connectTls`) that failed before any
 * byte was exchanged: refused, unreachable, a name that does not resolve.
 */
export function connectFailed(e: unknown, addr: Address): ConnectionError {
  const err = asError(e);
  const hint = err instanceof Deno.errors.ConnectionRefused
    ? "nothing listens there: is the Event Server running, on this port?"
    : /lookup|resolve|name or service|no such host/i.test(err.message)
    ? "is the host name right?"
    : "is the host reachable, and the Event Server running there?";
  return new ConnectionError(
    `cannot connect to ${where(addr)}: ${err.message}: ${hint}`,
    { code: "CONNECTION_REFUSED", cause: e },
  );
}

// What a TLS failure most likely means, from Deno's (rustls') text, from
// the side that dialed or the side that accepted.
function tlsHint(err: Error, dialed: boolean): string {
  const m = err.message;
  if (/certificate|UnknownIssuer|NotValidForName|Expired/i.test(m)) {
    return dialed
      ? "the server's certificate is not trusted here or does not name " +
        "the host dialed: give its CA in tls.caCerts (the CLI's --ca-cert)"
      : "the certificate or key cannot be used";
  }
  if (/UnknownCA|BadCertificate|CertificateUnknown/.test(m)) {
    return "the client does not trust this server's certificate: it needs " +
      "the CA in its tls.caCerts";
  }
  if (err instanceof Deno.errors.UnexpectedEof || /end of file/i.test(m)) {
    return dialed
      ? "the server closed the connection during the TLS handshake: is " +
        "this a plain (non-TLS) port? Connect without tls"
      : "the client went away during the TLS handshake";
  }
  if (/corrupt message|InvalidContentType|wrong version|record/i.test(m)) {
    return dialed
      ? "the server does not answer in TLS: is this a plain (non-TLS) " +
        "port? Connect without tls"
      : "the client is not speaking TLS: a plain client on this TLS port " +
        "must connect with tls";
  }
  return "check that both sides use TLS, with a certificate the client trusts";
}

/** The error of a TLS handshake that failed, on the side that dialed. */
export function handshakeFailed(e: unknown, addr: Address): ConnectionError {
  const err = asError(e);
  return new ConnectionError(
    `TLS handshake with ${where(addr)} failed: ${err.message}: ${
      tlsHint(err, true)
    }`,
    { code: "TLS", cause: e },
  );
}

/**
 * The error of `Deno.listen` (or `listenTls`) that failed, as
 * `ADDRESS_IN_USE`, `TLS` (a certificate or key it cannot use) or
 * `LISTEN_FAILED`.
 */
export function listenFailed(
  e: unknown,
  addr: Address,
  tls: boolean,
): EventerError {
  const err = asError(e);
  const at = `cannot listen on ${where(addr)}: ${err.message}`;
  if (err instanceof Deno.errors.AddrInUse) {
    return new EventerError(
      `${at}: another server listens there; stop it, or choose another ` +
        "port (0 picks a free one)",
      { code: "ADDRESS_IN_USE", cause: e },
    );
  }
  if (tls && err instanceof Deno.errors.InvalidData) {
    return new EventerError(
      `${at}: check the TLS certificate and key (PEM text, not file names)`,
      { code: "TLS", cause: e },
    );
  }
  const hint = err instanceof Deno.errors.AddrNotAvailable
    ? ": is that address one of this host's?"
    : err instanceof Deno.errors.PermissionDenied
    ? ": ports below 1024 need privileges"
    : "";
  return new EventerError(`${at}${hint}`, { code: "LISTEN_FAILED", cause: e });
}

/**
 * The reason a connection closes for an error of its socket (a read or a
 * write): `TLS` for a TLS failure, else `CLOSED` (the peer went away, or
 * the system's error says why). Messages name the peer on the side that
 * dialed; the log of the side that accepted names it already.
 */
export function socketFailed(
  e: unknown,
  peer: Address,
  tls: boolean,
  dialed: boolean,
): EventerError {
  if (e instanceof EventerError) return e;
  const err = asError(e);
  const to = dialed ? ` with ${where(peer)}` : "";
  if (tls && err instanceof Deno.errors.InvalidData) {
    return new ConnectionError(
      `TLS${to} failed: ${err.message}: ${tlsHint(err, dialed)}`,
      { code: "TLS", cause: e },
    );
  }
  return new ConnectionError(
    `connection${to} ${isDisconnect(err) ? "lost" : "failed"}: ${err.message}`,
    { cause: e },
  );
}

// How much of a peer's first bytes a message quotes.
const QUOTED = 40;

/**
 * A connection's first bytes that cannot start a Chatter frame, as the
 * error saying what the peer is instead; null when they could (then the
 * failure is the peer's own, a `PROTOCOL` one). A frame header's first
 * byte is the width of the length, at most 8 (the reference writes 1 to
 * 4): any other byte means another protocol. `0x15 0x03` and `0x16 0x03`
 * open TLS records (an alert, a handshake); printable bytes are text,
 * such as HTTP's `HTTP/1.1 400 Bad Request`.
 *
 * @param bytes The first bytes received, at least one.
 * @param peer The peer's address.
 * @param dialed True on the side that connected (the client).
 */
export function notChatter(
  bytes: Uint8Array,
  peer: Address,
  dialed: boolean,
): EventerError | null {
  if (bytes.length === 0 || bytes[0] <= 8) return null;
  const first = bytes[0];
  const at = dialed ? where(peer) : "the client";
  if ((first === 0x15 || first === 0x16) && (bytes[1] ?? 3) === 3) {
    return new ConnectionError(
      dialed
        ? `${at} answered in TLS (a TLS ${
          first === 0x15 ? "alert" : "record"
        }): it is a TLS port; connect with tls (the CLI's --tls)`
        : "the client started a TLS handshake on this plain port: it uses " +
          "TLS and this server does not; listen with tls, or connect without",
      { code: "TLS" },
    );
  }
  const head = bytes.subarray(0, 64);
  const text = head.every((b) =>
    (b >= 0x20 && b < 0x7f) || b === 9 ||
    b === 10 || b === 13
  );
  const sent = text
    ? JSON.stringify(
      new TextDecoder().decode(head).split(/\r?\n/)[0].slice(0, QUOTED),
    )
    : `the bytes ${
      [...bytes.subarray(0, 16)].map((b) => b.toString(16).padStart(2, "0"))
        .join(" ")
    }`;
  const what = text && /^HTTP\/\d/.test(String.fromCharCode(...head))
    ? " (a web server)"
    : "";
  return new ProtocolError(
    `${at} is not speaking Chatter: it ${
      dialed ? "answered" : "sent"
    } ${sent}${what}${
      dialed
        ? ": is this a Hat Event Server port? (Hat's default is 23012)"
        : ": not a Hat Eventer client"
    }`,
    { code: "NOT_EVENTER" },
  );
}
