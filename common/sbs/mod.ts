/**
 * SBS, Simple Binary Serialization (SPEC §1): the bottom layer. A growable
 * {@linkcode Writer} and a bounds-checked {@linkcode Reader}; schema-driven,
 * so callers write and read fields in schema order.
 *
 * The speed tricks shared by the layers above are named objects here:
 * {@linkcode stringCache} (short strings decoded before) and
 * {@linkcode WriteSlots} (bytes of strings written before).
 *
 * @module
 */

export { SbsError } from "./error.ts";
export { MAX_INT_BYTES, Reader } from "./reader.ts";
export { internAscii, MAX_CACHED_LENGTH, stringCache } from "./string_cache.ts";
export { intWidth, putInt32, Writer } from "./writer.ts";
export { SLOT_BYTES, WriteSlots } from "./write_slots.ts";
