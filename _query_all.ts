/**
 * Paging through a query: every event of every result, following
 * `moreFollows` with `lastEventId`. Shared by the clients' `queryAll`.
 *
 * @module
 */

import { ProtocolError } from "./common/chatter/mod.ts";
import type { Event, QueryParams, QueryResult } from "./common/event/mod.ts";

/** One query request, as `Client.query` makes it. */
export type QueryFn = (
  params: QueryParams,
  options: { signal?: AbortSignal },
) => Promise<QueryResult>;

/**
 * The events of `params`, page after page.
 *
 * @throws {RangeError} At once, for a `maxResults` below 1 (no page could
 *   hold an event to continue after).
 */
export function queryAll(
  query: QueryFn,
  params: QueryParams,
  signal: AbortSignal | undefined,
): AsyncGenerator<Event, void, undefined> {
  if (params.kind !== "latest" && params.maxResults != null) {
    const max = params.maxResults;
    if (!(max >= 1)) {
      throw new RangeError(`maxResults must be at least 1 to page, got ${max}`);
    }
  }
  return pages(query, params, signal);
}

async function* pages(
  query: QueryFn,
  params: QueryParams,
  signal: AbortSignal | undefined,
): AsyncGenerator<Event, void, undefined> {
  for (;;) {
    // Checked before each request, so none is sent once aborted.
    signal?.throwIfAborted();
    const result = await query(params, { signal });
    for (const event of result.events) {
      signal?.throwIfAborted();
      yield event;
    }
    // A latest result has no cursor: it is the one page there is.
    if (!result.moreFollows || params.kind === "latest") return;
    const last = result.events.at(-1);
    if (last === undefined) {
      throw new ProtocolError(
        "query result says more events follow but holds none to continue after",
      );
    }
    params = { ...params, lastEventId: last.id };
  }
}
