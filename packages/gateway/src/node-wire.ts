import type { ConnectionInfo } from './connection.js';

/**
 * What gateway nodes send each other on their node channels (`RedisKeys.nodeChannel`), for connections
 * another node holds. Each kind is one line of `\n`-separated fields, led by a letter; the last field
 * (a frame, a reason, JSON) may itself contain newlines.
 */
export type NodeMessage = SendMessage | CloseMessage | DescribeMessage | DescribedMessage;

/** Write a frame to a connection: `s\n${connectionId}\n${frame}`. */
export interface SendMessage {
  kind: 'send';
  connectionId: string;
  frame: string;
}

/** Close a connection: `c\n${connectionId}\n${code}\n${reason}`. */
export interface CloseMessage {
  kind: 'close';
  connectionId: string;
  code: number;
  reason: string;
}

/** Describe a connection (GET @connections), answering on `replyNode`'s channel: `g\n${connectionId}\n${replyId}\n${replyNode}`. */
export interface DescribeMessage {
  kind: 'describe';
  connectionId: string;
  replyId: string;
  replyNode: string;
}

/** The answer to a `describe`: `r\n${replyId}\n${info as JSON, or empty when unknown}`. */
export interface DescribedMessage {
  kind: 'described';
  replyId: string;
  info: ConnectionInfo | undefined;
}

export function encodeSend(message: Omit<SendMessage, 'kind'>): string {
  return `s\n${message.connectionId}\n${message.frame}`;
}

export function encodeClose(message: Omit<CloseMessage, 'kind'>): string {
  return `c\n${message.connectionId}\n${message.code}\n${message.reason}`;
}

export function encodeDescribe(message: Omit<DescribeMessage, 'kind'>): string {
  return `g\n${message.connectionId}\n${message.replyId}\n${message.replyNode}`;
}

export function encodeDescribed(message: Omit<DescribedMessage, 'kind'>): string {
  return `r\n${message.replyId}\n${message.info === undefined ? '' : JSON.stringify(message.info)}`;
}

/** Decodes a node channel payload; undefined for an unknown kind. */
export function decodeNodeMessage(payload: string): NodeMessage | undefined {
  const fields = (count: number): string[] => {
    // The first `count - 1` fields end at a newline; the last one is the rest of the payload.
    const out: string[] = [];
    let start = 2;
    for (let i = 1; i < count; i++) {
      const end = payload.indexOf('\n', start);
      if (end < 0) return [];
      out.push(payload.slice(start, end));
      start = end + 1;
    }
    out.push(payload.slice(start));
    return out;
  };
  switch (payload.slice(0, 2)) {
    case 's\n': {
      const [connectionId, frame] = fields(2);
      return frame === undefined ? undefined : { kind: 'send', connectionId: connectionId!, frame };
    }
    case 'c\n': {
      const [connectionId, code, reason] = fields(3);
      return reason === undefined ? undefined : { kind: 'close', connectionId: connectionId!, code: Number(code), reason };
    }
    case 'g\n': {
      const [connectionId, replyId, replyNode] = fields(3);
      return replyNode === undefined ? undefined : { kind: 'describe', connectionId: connectionId!, replyId: replyId!, replyNode };
    }
    case 'r\n': {
      const [replyId, info] = fields(2);
      if (info === undefined) return undefined;
      return { kind: 'described', replyId: replyId!, info: info === '' ? undefined : (JSON.parse(info) as ConnectionInfo) };
    }
    default:
      return undefined;
  }
}
