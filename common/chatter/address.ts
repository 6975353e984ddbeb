/**
 * TCP addresses, and Deno's turned into them.
 *
 * @module
 */

/** TCP address, in Deno's own shape. */
export interface Address {
  /** Host name or IP address. */
  hostname: string;
  /** TCP port (0 asks the system for a free one when listening). */
  port: number;
}

/** The address of a Deno socket or listener. */
export function toAddress(addr: Deno.Addr): Address {
  const a = addr as Deno.NetAddr;
  return { hostname: a.hostname, port: a.port };
}
