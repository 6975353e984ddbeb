/**
 * JSON payloads (SPEC §3): the SBS String holding JSON text, written and
 * read as Python peers write and read it.
 *
 * @module
 */

export { parseJsonText } from "./parse.ts";
export { readJsonText } from "./read.ts";
export { jsonShapes } from "./_shapes.ts";
export { JsonPayloadError, type JsonValue } from "./value.ts";
export { jsonText, writeJsonText } from "./write.ts";
export { isJsonText } from "./validate.ts";
