import { describe, expect, it } from 'vitest';
import { decodeNodeMessage, encodeClose, encodeDescribe, encodeDescribed, encodeSend } from '../src/node-wire.js';

describe('node wire', () => {
  it('decodes what each encoder makes, newlines in the last field included', () => {
    const frame = '{"type":"direct","data":"a\\nb"}\nraw newline';
    expect(decodeNodeMessage(encodeSend({ connectionId: 'c1=', frame }))).toEqual({ kind: 'send', connectionId: 'c1=', frame });
    expect(decodeNodeMessage(encodeClose({ connectionId: 'c1=', code: 4502, reason: 'removed\nby a teacher' }))).toEqual({
      kind: 'close',
      connectionId: 'c1=',
      code: 4502,
      reason: 'removed\nby a teacher',
    });
    expect(decodeNodeMessage(encodeDescribe({ connectionId: 'c1=', replyId: 'r1', replyNode: 'node-a' }))).toEqual({
      kind: 'describe',
      connectionId: 'c1=',
      replyId: 'r1',
      replyNode: 'node-a',
    });
    const info = { connectedAt: 1_700_000_000_000, lastActiveAt: 1_700_000_001_000, sourceIp: '127.0.0.1', userAgent: 'x\ny' };
    expect(decodeNodeMessage(encodeDescribed({ replyId: 'r1', info }))).toEqual({ kind: 'described', replyId: 'r1', info });
    expect(decodeNodeMessage(encodeDescribed({ replyId: 'r1', info: undefined }))).toEqual({ kind: 'described', replyId: 'r1', info: undefined });
  });

  it('answers undefined for an unknown kind or a truncated message', () => {
    expect(decodeNodeMessage('x\nwhatever')).toBeUndefined();
    expect(decodeNodeMessage('c\nc1=')).toBeUndefined();
    expect(decodeNodeMessage('')).toBeUndefined();
  });
});
