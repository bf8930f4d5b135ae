/**
 * Breakout rooms on top of a classroom session (docs/classroom.md, "Breakout rooms"): the staff's
 * actions, and following the viewer's group. A student's group room is joined when the class room
 * places them and left when they are moved or the breakout closes; staff visit the group they pick. The
 * group's room is joined on the class session's connection and token: nothing new is asked of the app.
 * A group is offered to components as a `Classroom` of its own (`group`), so the class's chat and
 * board components work there unchanged.
 */
import { CLASSROOM_LIMITS, groupOf, groupRoom, groupSummaries, isStaff, permissionsOf, applyEvent, applySnapshot, initialState } from '@classwire/protocol/classroom';
import { BREAKOUT_LIMITS, type BoardEntry, type BreakoutMode, type BreakoutPlacement, type BreakoutState, type ClassroomSnapshot, type GroupSummary } from '@classwire/protocol/classroom';
import type { ClassroomEvent, ClassroomEventMap, Member, Room } from '@classwire/client';
import { computed, onScopeDispose, ref, shallowRef, watch, type ComputedRef, type ShallowRef } from 'vue';
import type { Classroom } from './classroom.js';

/** How often the staff's overview of who is in which group room is refreshed while breakout rooms are open. */
const OVERVIEW_EVERY_MS = 10_000;

export interface Breakout {
  /** The open breakout, or null. */
  breakout: ComputedRef<BreakoutState | null>;
  /** The group the viewer is in now: a student's placement, or the group a staff member visits. */
  current: ComputedRef<number | null>;
  /** The session of that group's room, for its chat and board; undefined in the main room. */
  group: ShallowRef<Classroom | undefined>;
  /** The group shown to the class, as a read-only session (its board); undefined when none is shown or it is the viewer's own. */
  shown: ShallowRef<Classroom | undefined>;
  /** Its board. */
  shownBoard: ShallowRef<readonly BoardEntry[] | undefined>;
  /** The number of the group shown, when `shown` is set. */
  shownGroup: ComputedRef<number | null>;
  /** Staff: per group, who is placed there, who is in its room, whose hand is up. */
  summaries: ComputedRef<GroupSummary[]>;
  /** Staff: visit a group (null: back to the main room). */
  visit(group: number | null): void;
  open(groups: number, mode: BreakoutMode): Promise<boolean>;
  assign(placements: BreakoutPlacement[]): Promise<boolean>;
  choose(group: number): Promise<boolean>;
  show(group: number | null): Promise<boolean>;
  broadcast(text: string): Promise<boolean>;
  close(): Promise<boolean>;
  refreshOverview(): Promise<boolean>;
}

/**
 * A classroom-shaped view of one more room on the session's connection: its own state, roster and
 * actions; everything else (identity, notices, the class's connection) is the class session's. With
 * `readOnly` it offers nothing to do (a board shown to the class).
 */
export function roomSession(classroom: Classroom, name: string, readOnly: boolean): { session: Classroom; room: Room; stop(): void } {
  const room = classroom.joinRoom(name);
  const state = shallowRef(initialState());
  const roster = shallowRef<Member[]>([]);
  room.onSnapshot<ClassroomSnapshot>(({ state: snapshot }) => (state.value = applySnapshot(state.value, snapshot)));
  room.on('*', (message) => {
    if (!message.ephemeral) state.value = applyEvent(state.value, message);
  });
  room.onPresence(({ members }) => (roster.value = members));
  room.onJoined((info) => (roster.value = info.presence));
  room.onError(() => undefined);
  // Read only: the viewer takes part as an observer would (the server refuses anything sent there anyway).
  const me = shallowRef<Member>();
  const stopMe = watch(classroom.me, (member) => (me.value = member === undefined || !readOnly ? member : { ...member, role: 'observer' }), { immediate: true });
  // In a group the class's mute still applies (the server refuses a class-muted student's group chat).
  const permissions = computed(() => permissionsOf(state.value, me.value ?? { userId: '', role: 'observer' }, classroom.state.value));
  const publish = <K extends ClassroomEvent>(event: K, data: ClassroomEventMap[K]): Promise<number | undefined> => room.publish(event, data);
  const act = <K extends ClassroomEvent>(event: K, data: ClassroomEventMap[K]) => classroom.attempt(() => publish(event, data));
  const text = (value: string) => value.trim().slice(0, CLASSROOM_LIMITS.maxChatText);
  const session: Classroom = {
    ...classroom,
    me,
    state,
    roster,
    // Typing indicators and cursors stay in the main room.
    typing: ref<string[]>([]),
    cursors: shallowRef([]),
    permissions,
    publish,
    sendChat: (value) => act('chat.message', { text: text(value) }),
    editChat: (seq, value) => act('chat.edit', { seq, text: text(value) }),
    deleteChat: (seq) => act('chat.delete', { seq }),
    sendPrivate: (value, to) => act('chat.private', { text: text(value), ...(to === undefined ? {} : { to }) }),
    typingNow: () => undefined,
    moveCursor: () => undefined,
    drawStroke: (stroke) => act('wb.stroke', stroke),
    drawShape: (shape) => act('wb.shape', shape),
    erase: (ids) => classroom.attempt(() => Promise.all(ids.map((id) => publish('wb.erase', { id })))),
    clearBoard: () => act('wb.clear', {}),
  };
  return { session, room, stop: stopMe };
}

export function useBreakout(classroom: Classroom): Breakout {
  const breakout = computed(() => classroom.state.value.breakout);
  const staff = computed(() => classroom.me.value !== undefined && isStaff(classroom.me.value.role));
  const visiting = ref<number | null>(null);
  const current = computed(() => {
    const open = breakout.value;
    if (open === null || classroom.me.value === undefined || classroom.phase.value !== 'in-class') return null;
    if (staff.value) return visiting.value !== null && visiting.value <= open.groups ? visiting.value : null;
    return groupOf(open, classroom.me.value.userId);
  });
  const shownGroup = computed(() => {
    const shown = breakout.value?.shown ?? null;
    return shown !== null && shown !== current.value && classroom.phase.value === 'in-class' ? shown : null;
  });

  const group = shallowRef<Classroom>();
  let groupRoomJoined: Room | undefined;
  const shown = shallowRef<Classroom>();
  const shownBoard = shallowRef<readonly BoardEntry[]>();
  let shownRoom: Room | undefined;
  let stopShown: (() => void) | undefined;

  function leaveQuietly(room: Room | undefined): void {
    room?.leave().catch(() => undefined);
  }

  // Follows the viewer's group: leave the old room, join the new one (a move, a visit, the close).
  let stopGroup: (() => void) | undefined;
  watch(current, (next) => {
    stopGroup?.();
    stopGroup = undefined;
    leaveQuietly(groupRoomJoined);
    groupRoomJoined = undefined;
    group.value = undefined;
    if (next === null) return;
    const { session, room, stop } = roomSession(classroom, groupRoom(classroom.classroom.value, next), false);
    stopGroup = stop;
    groupRoomJoined = room;
    group.value = session;
    room.ready.catch((cause: unknown) => {
      if (groupRoomJoined === room) classroom.notice.value = `Could not enter group ${next}: ${cause instanceof Error ? cause.message : String(cause)}`;
    });
  });

  // The board staff show to the class, read only, for as long as they show it.
  watch(shownGroup, (next) => {
    stopShown?.();
    stopShown = undefined;
    leaveQuietly(shownRoom);
    shownRoom = undefined;
    shownBoard.value = undefined;
    shown.value = undefined;
    if (next === null) return;
    const { session, room, stop } = roomSession(classroom, groupRoom(classroom.classroom.value, next), true);
    shownRoom = room;
    shown.value = session;
    const stopBoard = watch(session.state, (value) => (shownBoard.value = value.board), { immediate: true });
    stopShown = () => {
      stop();
      stopBoard();
    };
  });

  watch(breakout, (open) => {
    if (open === null) visiting.value = null;
  });

  const summaries = computed(() => (breakout.value === null ? [] : groupSummaries(breakout.value, classroom.breakoutOverview.value, classroom.state.value.hands)));

  const act = <K extends ClassroomEvent>(event: K, data: ClassroomEventMap[K]) => classroom.attempt(() => classroom.publish(event, data));
  const refreshOverview = () => act('breakout.overview', {});

  // Staff see who is where: asked when the breakout changes and every few seconds while it is open.
  let overviewTimer: ReturnType<typeof setInterval> | undefined;
  watch(
    () => (staff.value ? breakout.value : null),
    (open) => {
      clearInterval(overviewTimer);
      overviewTimer = undefined;
      if (open === null) {
        classroom.breakoutOverview.value = null;
        return;
      }
      void classroom.publish('breakout.overview', {}).catch(() => undefined);
      overviewTimer = setInterval(() => void classroom.publish('breakout.overview', {}).catch(() => undefined), OVERVIEW_EVERY_MS);
    },
  );

  onScopeDispose(() => {
    clearInterval(overviewTimer);
    stopShown?.();
    stopGroup?.();
  });

  return {
    breakout,
    current,
    group,
    shown,
    shownBoard,
    shownGroup,
    summaries,
    visit: (value) => (visiting.value = value),
    open: (groups, mode) => act('breakout.open', { groups: Math.min(Math.max(1, Math.round(groups)), BREAKOUT_LIMITS.maxGroups), mode }),
    assign: (placements) => act('breakout.assign', { assignments: placements }),
    choose: (value) => act('breakout.choose', { group: value }),
    show: (value) => act('breakout.show', { group: value }),
    broadcast: (value) => act('breakout.broadcast', { text: value.trim().slice(0, BREAKOUT_LIMITS.maxBroadcastText) }),
    close: () => act('breakout.close', {}),
    refreshOverview,
  };
}
