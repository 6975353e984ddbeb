/**
 * The `HatObserver` SBS codecs (SPEC-monitor §1): the messages between a
 * component and its local Hat Monitor Server (and between Monitor
 * Servers), and the records they are made of.
 *
 * @module
 */

export {
  type BlessingReq,
  type BlessingRes,
  type ComponentInfoRecord,
  type MsgClient,
  type MsgMaster,
  type MsgServer,
  type MsgSlave,
  ObserverMsgType,
  readBlessingReq,
  readBlessingRes,
  readComponentInfo,
  readMsgClient,
  readMsgMaster,
  readMsgServer,
  readMsgSlave,
  type SbsInteger,
  writeBlessingReq,
  writeBlessingRes,
  writeComponentInfo,
  writeMsgClient,
  writeMsgMaster,
  writeMsgServer,
  writeMsgSlave,
} from "./messages.ts";
