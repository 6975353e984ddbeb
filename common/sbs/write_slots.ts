/**
 * Bytes of strings written before, kept per slot and written again as
 * 32-bit words.
 *
 * A slot stands for one place in the output: the JSON writer's third key of
 * an object at nesting depth 1, or that key's string value. The same string
 * comes back to the same place payload after payload (`"quality"` after
 * `"value"`, then `"good"`), and V8 copies a string's characters one
 * `charCodeAt` at a time, at several times the cost of storing a word.
 * (Event type segments keep slots of their own in eventer/, chosen by
 * more than their place: a type's places change strings from event to
 * event.) A slot holds the last string written at its place and the bytes
 * that were written for it (at most {@linkcode SLOT_BYTES}); a string that
 * is not the slot's own (`!==`, which is a pointer compare for the same
 * string object) takes the caller's usual path and replaces it.
 *
 * @module
 */

import type { Writer } from "./writer.ts";

/** Most bytes a slot holds. */
export const SLOT_BYTES = 32;
const SLOT_WORDS = SLOT_BYTES / 4;

/** A fixed number of slots, each the last string written at its place. */
export class WriteSlots {
  readonly #strings: (string | null)[];
  readonly #lengths: Uint8Array;
  readonly #words: Uint32Array;

  /** @param count Number of slots. */
  constructor(count: number) {
    this.#strings = new Array(count).fill(null);
    this.#lengths = new Uint8Array(count);
    this.#words = new Uint32Array(count * SLOT_WORDS);
  }

  /**
   * Write the bytes that `slot` holds for `s`. False (and nothing written)
   * when the slot holds another string or none.
   */
  write(w: Writer, slot: number, s: string): boolean {
    if (this.#strings[slot] !== s) return false;
    if (w.pos + SLOT_BYTES > w.buf.length) w.ensure(SLOT_BYTES);
    const view = w.view;
    const words = this.#words;
    const n = this.#lengths[slot];
    const p = w.pos;
    // Whole words: the bytes after the last one's end are overwritten
    // by what is written next (and are past `pos` until then). Unrolled
    // to 16 bytes (a loop's test per word costs more than the store).
    const o = slot * SLOT_WORDS;
    view.setUint32(p, words[o], true);
    if (n > 4) {
      view.setUint32(p + 4, words[o + 1], true);
      if (n > 8) {
        view.setUint32(p + 8, words[o + 2], true);
        if (n > 12) {
          view.setUint32(p + 12, words[o + 3], true);
          for (let x = 16, k = o + 4; x < n; x += 4, k++) {
            view.setUint32(p + x, words[k], true);
          }
        }
      }
    }
    w.pos = p + n;
    return true;
  }

  /**
   * Make `slot` hold `s` with the bytes just written for it: `w.buf`
   * from `start` to `w.pos`. Longer runs than a slot holds are not kept.
   */
  remember(w: Writer, slot: number, s: string, start: number): void {
    const n = w.pos - start;
    if (n > SLOT_BYTES || start + SLOT_BYTES > w.buf.length) return;
    const view = w.view;
    const words = this.#words;
    for (let x = 0, o = slot * SLOT_WORDS; x < n; x += 4, o++) {
      words[o] = view.getUint32(start + x, true);
    }
    this.#lengths[slot] = n;
    this.#strings[slot] = s;
  }
}
