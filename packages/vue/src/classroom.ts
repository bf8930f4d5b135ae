/**
 * The classroom session: a token from the app's `getToken`, one SDK client, one joined room, and the classroom state
 * built from the room's snapshot and events. Components read the refs and call the actions; nothing
 * here touches the DOM.
 */
import { CLOSE_CODES, ClasswireClient, ClasswireError, type ClassroomEvent, type ClassroomEventMap, type ClientOptions, type Member, type Role, type Room, type RoomMessage } from '@classwire/client';
import {
  ANNOUNCEMENT_LIMITS,
  BREAKOUT_OVERVIEW_EVENT,
  CLASSROOM_LIMITS,
  applyEvent,
  applySnapshot,
  hasReacted,
  initialState,
  isStaff,
  permissionsOf,
  viewedPage,
  withOwnAnswer,
  type BreakoutOverview,
  type ClassSettings,
  type LiveReactionKind,
  type MessageReactionEmoji,
  type PollCreateData,
  type ClassroomSnapshot,
  type ClassroomState,
  type Permissions,
  type ShapeData,
  type StrokeData,
  type TextData,
} from '@classwire/protocol/classroom';
import { computed, onScopeDispose, ref, shallowRef, watch, type Ref, type ShallowRef } from 'vue';
import { throttle } from './throttle.js';

/** Where the session is. `removed` and `ended` are final: the SDK does not reconnect after them. */
export type Phase = 'idle' | 'joining' | 'in-class' | 'removed' | 'ended' | 'disconnected';

/**
 * What the connection indicator shows. `caught-up` follows a reconnect once the room was re-joined and
 * everything missed was delivered (replayed, or reloaded from a snapshot).
 */
export type ConnectionStatus = 'connecting' | 'connected' | 'reconnecting' | 'caught-up' | 'offline';

export interface JoinRequest {
  name: string;
  role: Role;
  classroom: string;
}

export interface RemoteCursor {
  userId: string;
  name: string;
  /** The board page it is over. */
  page: number;
  x: number;
  y: number;
  at: number;
}

/** A token for the classroom and the user id it is for. */
export interface ClassroomCredentials {
  token: string;
  userId: string;
}

export interface UseClassroomOptions {
  /** The gateway's WebSocket URL, e.g. `wss://classwire.example/ws`. */
  url: string;
  /**
   * Issues a token for joining `request.classroom` as `request.name` with `request.role`. Called on each
   * join with `userId` undefined, and when the SDK needs a fresh token (expired or refused) with the user
   * id of the first one: the new token must be for the same user.
   */
  getToken(request: JoinRequest, userId: string | undefined): Promise<ClassroomCredentials>;
  /** Further SDK options (a WebSocket implementation for Node, timeouts…). */
  client?: Omit<ClientOptions, 'url' | 'token' | 'getToken'>;
}

/** How long "caught up" stays on the indicator before it settles to "connected". */
const CAUGHT_UP_MS = 5000;
/** At most one typing event per this interval; others show "typing" for a little longer than that. */
const TYPING_SEND_MS = 3000;
const TYPING_SHOW_MS = 5000;
/** 20 cursor updates per second: under the server's 25/s cut-off, with room for the pen's segments. */
const CURSOR_SEND_MS = 50;
const CURSOR_IDLE_MS = 4000;

const ERROR_TEXT: Record<string, string> = {
  forbidden: 'That is not allowed right now.',
  payload_too_large: 'The whiteboard is full: erase something or clear it first.',
  bad_request: 'The server did not accept that.',
  rate_limited: 'Slow down a little.',
  not_joined: 'You are not in the class any more.',
  closed: 'You are not connected.',
  queue_full: 'Too many messages are waiting to be sent.',
};

export function describeError(error: unknown): string {
  if (error instanceof ClasswireError) return ERROR_TEXT[error.code] ?? error.message;
  return error instanceof Error ? error.message : String(error);
}

export interface Classroom {
  phase: Ref<Phase>;
  connection: Ref<ConnectionStatus>;
  /** Why the last join failed, or what the last refused action was. */
  error: Ref<string | undefined>;
  notice: Ref<string | undefined>;
  classroom: Ref<string>;
  me: ShallowRef<Member | undefined>;
  state: ShallowRef<ClassroomState>;
  roster: ShallowRef<Member[]>;
  typing: Ref<string[]>;
  cursors: ShallowRef<RemoteCursor[]>;
  permissions: Ref<Permissions>;
  join(request: JoinRequest): Promise<void>;
  leave(): void;
  publish<K extends ClassroomEvent>(event: K, data: ClassroomEventMap[K]): Promise<number | undefined>;
  /** Runs an action and turns a refusal into the notice. Resolves false when it was refused. */
  attempt(action: () => Promise<unknown>): Promise<boolean>;
  sendChat(text: string): Promise<boolean>;
  editChat(seq: number, text: string): Promise<boolean>;
  deleteChat(seq: number): Promise<boolean>;
  sendPrivate(text: string, to?: string): Promise<boolean>;
  typingNow(): void;
  setHand(raised: boolean, userId?: string): Promise<boolean>;
  clearHands(): Promise<boolean>;
  drawStroke(stroke: StrokeData): Promise<boolean>;
  drawShape(shape: ShapeData): Promise<boolean>;
  /** Adds a text item (on the page in view unless `page` is given). */
  drawText(text: TextData): Promise<boolean>;
  erase(ids: string[]): Promise<boolean>;
  /** Clears the page in view. */
  clearBoard(): Promise<boolean>;
  /** The board page this viewer looks at (and draws on): the shown one, unless students may browse. */
  page: Ref<number>;
  /** Staff show the page to everyone; a student browses to it when the teacher allows. */
  viewPage(page: number): Promise<boolean>;
  addPage(): Promise<boolean>;
  removePage(page: number): Promise<boolean>;
  setFreeBrowsing(free: boolean): Promise<boolean>;
  /** Takes back the viewer's newest item on the page in view; `redo` brings the last one taken back. */
  undo(): Promise<boolean>;
  redo(): Promise<boolean>;
  moveCursor(x: number, y: number): void;
  changeSettings(settings: Partial<ClassSettings>): Promise<boolean>;
  startClass(): Promise<boolean>;
  endClass(): Promise<boolean>;
  mute(userId: string, muted: boolean): Promise<boolean>;
  grant(userId: string, granted: boolean): Promise<boolean>;
  remove(userId: string): Promise<boolean>;
  createPoll(poll: PollCreateData): Promise<boolean>;
  openPoll(id: string, seconds?: number): Promise<boolean>;
  closePoll(id: string): Promise<boolean>;
  sharePoll(id: string): Promise<boolean>;
  pinAnnouncement(text: string): Promise<boolean>;
  unpinAnnouncement(): Promise<boolean>;
  /** The read receipt for the displayed announcement: sent once per announcement, quietly. */
  acknowledgeAnnouncement(id: string): void;
  /** A live reaction to the staff (students); a repeat within its window counts once on the server. */
  sendLiveReaction(kind: LiveReactionKind): Promise<boolean>;
  /** Puts `emoji` on the chat message at `seq`, or takes it back when the viewer's is already there. */
  toggleMessageReaction(seq: number, emoji: MessageReactionEmoji): Promise<boolean>;
  setTimer(seconds: number): Promise<boolean>;
  pauseTimer(): Promise<boolean>;
  resumeTimer(): Promise<boolean>;
  clearTimer(): Promise<boolean>;
  /** Sends (or changes) the viewer's answer; once acked it is in `state.myAnswers`. */
  answerPoll(id: string, choices: number[]): Promise<boolean>;
  /**
   * The server's clock as this client estimates it (ms): local time plus the largest `ts − arrival` seen,
   * so a time limit ends at the same moment on every screen whatever their clocks say.
   */
  serverNow(): number;
  /** Ticks every second while in class: computed values that depend on time read it. */
  now: Ref<number>;
  /** The SDK's connection state, for the test hook. */
  clientState(): string;
  /** Joins a further room on this session's connection and token (a breakout group's room). */
  joinRoom(room: string): Room;
  /** Staff: the latest answer to `breakout.overview` (who is in each group room). */
  breakoutOverview: ShallowRef<BreakoutOverview | null>;
}

export function useClassroom(options: UseClassroomOptions): Classroom {
  const phase = ref<Phase>('idle');
  const connection = ref<ConnectionStatus>('connecting');
  const error = ref<string>();
  const notice = ref<string>();
  const classroom = ref('');
  const me = shallowRef<Member>();
  const state = shallowRef<ClassroomState>(initialState());
  const roster = shallowRef<Member[]>([]);
  const typers = shallowRef(new Map<string, { name: string; until: number }>());
  const cursorMap = shallowRef(new Map<string, RemoteCursor>());
  const now = ref(Date.now());
  const breakoutOverview = shallowRef<BreakoutOverview | null>(null);

  let client: ClasswireClient | undefined;
  let room: Room | undefined;
  let caughtUpTimer: ReturnType<typeof setTimeout> | undefined;
  let sweepTimer: ReturnType<typeof setInterval> | undefined;

  /** The page a browsing student picked; staff always look at (and show) the shown page. */
  const chosenPage = ref<number>();
  const page = computed(() => viewedPage(state.value.pages, chosenPage.value, me.value === undefined || isStaff(me.value.role) || !state.value.pages.free));
  // Once students follow again, a later round of browsing starts from the shown page.
  watch(
    () => state.value.pages.free,
    (free) => {
      if (!free) chosenPage.value = undefined;
    },
  );

  const permissions = computed(() =>
    me.value === undefined ? permissionsOf(state.value, { userId: '', role: 'observer' }) : permissionsOf(state.value, me.value),
  );
  const typing = computed(() =>
    [...typers.value.entries()].filter(([userId, t]) => t.until > now.value && userId !== me.value?.userId).map(([, t]) => t.name),
  );
  const cursors = computed(() => [...cursorMap.value.values()].filter((c) => c.at + CURSOR_IDLE_MS > now.value));

  const typingSender = throttle(() => void publishEphemeral('chat.typing', {}), TYPING_SEND_MS, { trailing: false });
  const cursorSender = throttle((point: { x: number; y: number }) => void publishEphemeral('wb.cursor', onPage<{ x: number; y: number; page?: number }>(point)), CURSOR_SEND_MS, { trailing: true });

  /** Announcements this session has acknowledged (the server would ignore a second receipt anyway). */
  const acknowledged = new Set<string>();

  /** Server time minus local time: a lower bound (a message's ts precedes its arrival), so the greatest sample wins. */
  let serverOffset: number | undefined;
  function observeServerTime(ts: number): void {
    const sample = ts - Date.now();
    if (serverOffset === undefined || sample > serverOffset) serverOffset = sample;
  }

  function onMessage(message: RoomMessage): void {
    if (typeof message.ts === 'number') observeServerTime(message.ts);
    if (message.ephemeral) {
      onEphemeral(message);
      return;
    }
    if (message.event === BREAKOUT_OVERVIEW_EVENT) breakoutOverview.value = message.data as BreakoutOverview;
    state.value = applyEvent(state.value, message);
    if (message.event === 'chat.message' && typers.value.has(message.from.userId)) {
      const next = new Map(typers.value);
      next.delete(message.from.userId);
      typers.value = next;
    }
  }

  function onEphemeral(message: RoomMessage): void {
    const { userId, name } = message.from;
    if (userId === me.value?.userId) return;
    if (message.event === 'chat.typing') {
      typers.value = new Map(typers.value).set(userId, { name, until: Date.now() + TYPING_SHOW_MS });
      now.value = Date.now();
    } else if (message.event === 'wb.cursor') {
      const data = message.data as { x?: unknown; y?: unknown; page?: unknown };
      if (typeof data.x !== 'number' || typeof data.y !== 'number') return;
      const page = typeof data.page === 'number' ? data.page : 0;
      cursorMap.value = new Map(cursorMap.value).set(userId, { userId, name, page, x: data.x, y: data.y, at: Date.now() });
      now.value = Date.now();
    }
  }

  function onPresence(members: Member[]): void {
    roster.value = members;
    const present = new Set(members.map((m) => m.userId));
    if ([...cursorMap.value.keys()].some((id) => !present.has(id))) {
      cursorMap.value = new Map([...cursorMap.value].filter(([id]) => present.has(id)));
    }
  }

  async function join(request: JoinRequest): Promise<void> {
    if (phase.value === 'joining' || phase.value === 'in-class') return;
    shutdown();
    phase.value = 'joining';
    error.value = undefined;
    notice.value = undefined;
    classroom.value = request.classroom;
    state.value = initialState();
    let first: ClassroomCredentials;
    try {
      first = await options.getToken(request, undefined);
    } catch (cause) {
      error.value = `Could not sign in: ${describeError(cause)}`;
      phase.value = 'idle';
      return;
    }
    me.value = { userId: first.userId, name: request.name, role: request.role };
    let unusedToken: string | undefined = first.token;
    const session = new ClasswireClient({
      ...options.client,
      url: options.url,
      // The first token is the one fetched above; a refused or expiring one is replaced for the same user.
      getToken: async () => {
        const token = unusedToken ?? (await options.getToken(request, first.userId)).token;
        unusedToken = undefined;
        return token;
      },
    });
    client = session;
    // A failed first connection is reported through the `state` and `closed` events.
    void session.connect().catch(() => undefined);
    session.on('error', (cause) => {
      // While the network is down, failed token refreshes are retried by the SDK: expected, not news.
      if (session.state !== 'reconnecting') console.warn('[classroom]', cause);
    });
    session.on('state', ({ state: next }) => {
      if (client !== session) return;
      if (next === 'reconnecting') {
        clearTimeout(caughtUpTimer);
        connection.value = 'reconnecting';
      } else if (next === 'connecting') connection.value = 'connecting';
      else if (next === 'closed') connection.value = 'offline';
    });
    session.on('closed', ({ code }) => {
      if (client !== session) return;
      if (code === CLOSE_CODES.removed) phase.value = 'removed';
      else if (code === CLOSE_CODES.classEnded) phase.value = 'ended';
      else if (phase.value === 'in-class') phase.value = 'disconnected';
    });
    const joined = session.join(request.classroom);
    room = joined;
    joined.onSnapshot<ClassroomSnapshot>(({ state: snapshot }) => {
      if (typeof snapshot.serverTime === 'number') observeServerTime(snapshot.serverTime);
      state.value = applySnapshot(state.value, snapshot);
    });
    joined.on('*', onMessage);
    joined.onPresence(({ members }) => onPresence(members));
    joined.onJoined((info) => {
      onPresence(info.presence);
      if (phase.value === 'joining') {
        phase.value = 'in-class';
        connection.value = 'connected';
        return;
      }
      connection.value = 'caught-up';
      clearTimeout(caughtUpTimer);
      caughtUpTimer = setTimeout(() => {
        if (connection.value === 'caught-up') connection.value = 'connected';
      }, CAUGHT_UP_MS);
    });
    sweepTimer = setInterval(() => {
      now.value = Date.now();
    }, 1000);
    try {
      await joined.ready;
    } catch (cause) {
      if (client !== session) return;
      shutdown();
      // The server says why (removed from the class, or it has ended): its words are meant for people.
      error.value = cause instanceof ClasswireError && cause.code === 'forbidden' ? `You cannot join: ${cause.message}.` : `Could not join: ${describeError(cause)}`;
      phase.value = 'idle';
    }
  }

  function shutdown(): void {
    clearTimeout(caughtUpTimer);
    clearInterval(sweepTimer);
    typingSender.cancel();
    cursorSender.cancel();
    const closing = client;
    client = undefined;
    room = undefined;
    closing?.close();
    typers.value = new Map();
    cursorMap.value = new Map();
    roster.value = [];
    breakoutOverview.value = null;
  }

  function leave(): void {
    shutdown();
    phase.value = 'idle';
    connection.value = 'connecting';
    state.value = initialState();
  }

  function publish<K extends ClassroomEvent>(event: K, data: ClassroomEventMap[K]): Promise<number | undefined> {
    if (room === undefined) return Promise.reject(new ClasswireError('closed', 'not in a class'));
    return room.publish(event, data);
  }

  function publishEphemeral<K extends ClassroomEvent>(event: K, data: ClassroomEventMap[K]): Promise<unknown> {
    return room?.publish(event, data, { ephemeral: true }).catch(() => undefined) ?? Promise.resolve();
  }

  async function attempt(action: () => Promise<unknown>): Promise<boolean> {
    try {
      await action();
      return true;
    } catch (cause) {
      notice.value = describeError(cause);
      return false;
    }
  }

  const act = <K extends ClassroomEvent>(event: K, data: ClassroomEventMap[K]) => attempt(() => publish(event, data));
  /** Board data on the page in view unless it names one; page 0 is left out, as clients before pages sent it. */
  function onPage<T extends { page?: number | undefined }>(data: T): T {
    const target = data.page ?? page.value;
    const placed: { page?: number | undefined } = { ...data, page: target };
    if (target === 0) delete placed.page;
    return placed as T;
  }

  onScopeDispose(shutdown);

  return {
    phase,
    connection,
    error,
    notice,
    classroom,
    me,
    state,
    roster,
    typing,
    cursors,
    permissions,
    join,
    leave,
    publish,
    attempt,
    sendChat: (text) => {
      // Others stop showing "typing" when the message arrives; the next keystroke starts it again.
      typingSender.reset();
      return act('chat.message', { text: text.trim().slice(0, CLASSROOM_LIMITS.maxChatText) });
    },
    editChat: (seq, text) => act('chat.edit', { seq, text: text.trim().slice(0, CLASSROOM_LIMITS.maxChatText) }),
    deleteChat: (seq) => act('chat.delete', { seq }),
    sendPrivate: (text, to) => act('chat.private', { text: text.trim().slice(0, CLASSROOM_LIMITS.maxChatText), ...(to === undefined ? {} : { to }) }),
    typingNow: () => typingSender.offer(undefined),
    setHand: (raised, userId) => act(raised ? 'hand.raise' : 'hand.lower', userId === undefined ? {} : { userId }),
    clearHands: () => act('hand.clear', {}),
    drawStroke: (stroke) => act('wb.stroke', onPage(stroke)),
    drawShape: (shape) => act('wb.shape', onPage(shape)),
    drawText: (text) => act('wb.text', onPage(text)),
    erase: (ids) => attempt(() => Promise.all(ids.map((id) => publish('wb.erase', onPage<{ id: string; page?: number }>({ id }))))),
    clearBoard: () => act('wb.clear', onPage({})),
    page,
    viewPage: async (target) => {
      if (me.value !== undefined && isStaff(me.value.role)) return act('wb.page.show', { page: target });
      if (!state.value.pages.free) return false;
      chosenPage.value = target;
      return true;
    },
    addPage: () => act('wb.page.add', {}),
    removePage: (target) => act('wb.page.remove', { page: target }),
    setFreeBrowsing: (free) => act('wb.page.browse', { free }),
    undo: () => act('wb.undo', onPage({})),
    redo: () => act('wb.redo', onPage({})),
    moveCursor: (x, y) => cursorSender.offer({ x, y }),
    changeSettings: (settings) => act('class.settings', settings),
    startClass: () => act('class.start', {}),
    endClass: () => act('class.end', {}),
    mute: (userId, muted) => act('moderation.mute', { userId, muted }),
    grant: (userId, granted) => act('moderation.grant', { userId, granted }),
    remove: (userId) => act('moderation.remove', { userId }),
    createPoll: (poll) => act('poll.create', poll),
    openPoll: (id, seconds) => act('poll.open', seconds === undefined ? { id } : { id, seconds }),
    closePoll: (id) => act('poll.close', { id }),
    sharePoll: (id) => act('poll.share', { id }),
    answerPoll: (id, choices) =>
      attempt(async () => {
        await publish('poll.answer', { id, choices });
        state.value = withOwnAnswer(state.value, { id, choices: [...choices].sort((a, b) => a - b) });
      }),
    pinAnnouncement: (text) =>
      act('announce.pin', { id: `a${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`, text: text.trim().slice(0, ANNOUNCEMENT_LIMITS.maxText) }),
    unpinAnnouncement: () => act('announce.unpin', {}),
    acknowledgeAnnouncement: (id) => {
      if (acknowledged.has(id)) return;
      acknowledged.add(id);
      // A receipt that fails (the announcement changed meanwhile) is not news for the student.
      publish('announce.seen', { id }).catch(() => acknowledged.delete(id));
    },
    sendLiveReaction: (kind) => act('reaction.send', { kind }),
    toggleMessageReaction: (seq, emoji) => {
      const entry = state.value.chat.find((message) => message.seq === seq);
      const mine = me.value !== undefined && hasReacted(entry?.reactions, emoji, me.value.userId);
      return act(mine ? 'chat.unreact' : 'chat.react', { seq, emoji });
    },
    setTimer: (seconds) => act('timer.set', { seconds }),
    pauseTimer: () => act('timer.pause', {}),
    resumeTimer: () => act('timer.resume', {}),
    clearTimer: () => act('timer.clear', {}),
    serverNow: () => Date.now() + (serverOffset ?? 0),
    now,
    clientState: () => client?.state ?? 'idle',
    joinRoom: (name) => {
      if (client === undefined) throw new ClasswireError('closed', 'not in a class');
      return client.join(name);
    },
    breakoutOverview,
  };
}
