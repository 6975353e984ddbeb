/**
 * The event domain, as the reference's `hat.event.common`: events and
 * their parts, queries, timestamps, subscriptions and the natural order
 * of events, and the checks of what a client sends (`check.ts`). Nothing
 * here knows the wire: the codecs are in `eventer/`.
 *
 * @module
 */

export {
  checkId,
  checkQueryParams,
  checkQueryTypes,
  checkRegisterEvents,
  checkTimestamp,
} from "./check.ts";
export { compareEventIds, compareEvents } from "./event_order.ts";
export {
  type BinaryEncoding,
  eventFromJson,
  eventToJson,
  type EventToJsonOptions,
} from "./event_json.ts";
export {
  JsonTextPayload,
  jsonTextPayloadUnchecked,
} from "./json_text_payload.ts";
export { formatEventType, parseEventType } from "./event_type_text.ts";
export {
  InvalidQueryTypeError,
  matchesQueryType,
  Subscription,
} from "./subscription.ts";
export * from "./timestamp.ts";
export {
  type BinaryPayload,
  type Event,
  type EventId,
  type EventPayload,
  type EventType,
  type JsonPayload,
  type Order,
  type OrderBy,
  type QueryLatestParams,
  type QueryParams,
  type QueryResult,
  type QueryServerParams,
  type QueryTimeseriesParams,
  type RegisterEvent,
  type Seconds,
  type ServerId,
  type Status,
  STATUSES,
  type Timestamp,
} from "./types.ts";
