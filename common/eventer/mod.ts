/**
 * The `HatEventer` SBS codecs (SPEC §3): the messages and the shared types
 * they are made of, and the caches that make repeated event types cheap.
 *
 * @module
 */

export { DEFAULT_PORT } from "./default_port.ts";
export {
  readEvent,
  readEventId,
  readEvents,
  readOptPayload,
  readOptPayloadKeepingText,
  readOptTimestamp,
  readRegisterEvent,
  readTimestamp,
  writeEvent,
  writeEventId,
  writeEvents,
  writeEventsUpTo,
  writeOptPayload,
  writeOptTimestamp,
  writeRegisterEvent,
  writeTimestamp,
} from "./event.ts";
export {
  eventTypeCache,
  eventTypeWriteSlots,
  readEventType,
  readEventTypes,
  writeEventType,
  writeEventTypes,
} from "./event_type.ts";
export {
  type MsgInitReq,
  type MsgInitReqHead,
  type MsgInitRes,
  MsgType,
  readInitReq,
  readInitReqHead,
  readInitRes,
  readQueryParams,
  readQueryResult,
  readRegisterReq,
  readRegisterRes,
  readStatus,
  TooManySubscriptionsError,
  writeInitReq,
  writeInitRes,
  writeQueryParams,
  writeQueryResult,
  writeRegisterReq,
  writeRegisterRes,
  writeStatus,
} from "./messages.ts";
