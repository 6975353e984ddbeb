/**
 * Where Hat Event Servers listen (SPEC §3).
 *
 * @module
 */

/** Hat's default Eventer port: Event Servers listen for clients on it. */
export const DEFAULT_PORT = 23012;
