import { describe, expect, it } from 'vitest';
import { INITIAL_CONTROL, permissionsOf, type BoardEntry, type ChatEntry, type Permissions, type Role } from '@classwire/protocol/classroom';
import { ME, OFFLINE, PERMISSION_CASES, ROLES, caseTitle, type PermissionCase } from '../../../test-support/classroom-permission-table.js';

/**
 * The shared permission table (test-support/classroom-permission-table.ts) against what the app offers:
 * for each case, the control the UI shows for that event must be there exactly when the server accepts
 * the event (packages/core/test/classroom-permission-table.test.ts runs the same cases on the server).
 */

function chatEntry(authorId: string): ChatEntry {
  return { seq: 1, ts: 1, from: { userId: authorId, name: authorId, role: 'student' }, text: 'x', edited: false };
}

function boardEntry(authorId: string): BoardEntry {
  return { seq: 1, userId: authorId, item: { type: 'stroke', id: 'a', color: '#000000', width: 2, points: [0, 0, 1, 1] } };
}

/** Whether the app offers the case's event; undefined when the UI has no control for that situation. */
function offered(p: Permissions, row: PermissionCase, role: Role): boolean | undefined {
  const target = row.target ?? {};
  // Moderation acts on a roster row: people not in the class are not listed.
  const member = () => ({ userId: target.userId!, role: target.userRole ?? role });
  switch (row.event) {
    case 'chat.message':
    case 'chat.typing':
      return p.chat;
    case 'chat.edit':
      return p.editMessage(chatEntry(target.authorId!));
    case 'chat.delete':
      return p.deleteMessage(chatEntry(target.authorId!));
    case 'chat.private':
      return target.userId === undefined ? p.privateTo() : p.privateTo(member());
    case 'hand.raise':
      return p.raiseHand;
    case 'hand.lower':
      return p.lowerHandOf(target.userId ?? ME);
    case 'hand.clear':
      return p.clearHands;
    case 'wb.stroke':
    case 'wb.shape':
    case 'wb.text':
    case 'wb.cursor':
      return p.draw;
    case 'wb.undo':
    case 'wb.redo':
      // Undo and redo act on the viewer's own items only: there is no control for someone else's.
      return target.authorId === ME ? p.undo : undefined;
    case 'wb.page.add':
    case 'wb.page.remove':
    case 'wb.page.show':
    case 'wb.page.browse':
      return p.runPages;
    case 'wb.erase':
      return p.eraseItem(boardEntry(target.authorId!));
    case 'wb.clear':
      return p.clearBoard;
    case 'class.settings':
      return p.changeSettings;
    case 'class.start':
    case 'class.end':
      return p.runClass;
    case 'moderation.mute':
    case 'moderation.grant':
    case 'moderation.remove':
      if (target.userId === OFFLINE.userId) return undefined;
      return p.moderate(member())[row.event === 'moderation.mute' ? 'mute' : row.event === 'moderation.grant' ? 'grant' : 'remove'];
    case 'poll.create':
    case 'poll.open':
    case 'poll.close':
    case 'poll.share':
      return p.runPolls;
    case 'poll.answer':
      return p.answerPolls;
    case 'timer.set':
    case 'timer.pause':
    case 'timer.resume':
    case 'timer.clear':
      return p.runTimer;
    case 'announce.pin':
    case 'announce.unpin':
      return p.pinAnnouncement;
    case 'announce.seen':
      return p.acknowledgeAnnouncement;
    case 'chat.react':
    case 'chat.unreact':
      return p.reactToMessages;
    case 'reaction.send':
      return p.sendLiveReactions;
    case 'breakout.open':
    case 'breakout.assign':
    case 'breakout.show':
    case 'breakout.broadcast':
    case 'breakout.close':
    case 'breakout.overview':
      return p.runBreakouts;
    case 'breakout.choose':
      return p.chooseGroup;
  }
}

describe('the classroom permission table: what the app offers', () => {
  for (const row of PERMISSION_CASES) {
    it(caseTitle(row), () => {
      for (const role of ROLES) {
        const answer = offered(permissionsOf({ ...INITIAL_CONTROL, ...row.control }, { userId: ME, role }), row, role);
        if (answer !== undefined) expect(answer, role).toBe(row.allowed.includes(role));
      }
    });
  }

  it('offers the private composer to students and staff, not to observers', () => {
    const composer = (role: Role) => permissionsOf(INITIAL_CONTROL, { userId: ME, role }).privateChat;
    expect(ROLES.filter(composer)).toEqual(['teacher', 'assistant', 'student']);
  });
});

describe('in a breakout group: the class mute applies', () => {
  const student = { userId: ME, role: 'student' as const };
  const mine = chatEntry(ME);

  it("closes a class-muted student's group chat, edits, deletions and reactions, not their private messages", () => {
    const inGroup = permissionsOf(INITIAL_CONTROL, student, { muted: [ME] });
    expect([inGroup.chat, inGroup.editMessage(mine), inGroup.deleteMessage(mine), inGroup.reactToMessages]).toEqual([false, false, false, false]);
    expect(inGroup.privateChat).toBe(true);
    expect(inGroup.draw).toBe(permissionsOf(INITIAL_CONTROL, student).draw);
  });

  it('changes nothing for a student the class did not mute', () => {
    const free = permissionsOf(INITIAL_CONTROL, student, { muted: ['someone else'] });
    expect([free.chat, free.editMessage(mine), free.deleteMessage(mine), free.reactToMessages]).toEqual([true, true, true, true]);
  });
});
