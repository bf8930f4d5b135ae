// Load-generator clients. Classwire and the raw `ws` baselines speak Classwire's raw protocol over `ws`
// (join, publish with an id, message frames; publishes are pipelined, not one in flight as in the SDK).
// Socket.IO targets use socket.io-client over its WebSocket transport only.
import { io } from 'socket.io-client';
import { WebSocket } from 'ws';

/**
 * @typedef {object} Handlers
 * @property {(room: string, data: any) => void} onMessage  a room message (one delivery)
 * @property {() => void} onAck  a publish was acknowledged
 * @property {(code: string) => void} onError  a frame was refused
 * @property {() => void} onClose  the connection closed while the run still needed it
 */

/**
 * @typedef {object} Client
 * @property {(room: string) => Promise<void>} join  resolves on the joined reply
 * @property {(room: string, event: string, data: unknown, id: string) => void} publish
 * @property {() => void} close
 */

/**
 * Opens a client and resolves once it can send (WebSocket open / Socket.IO connected).
 * @param {'classwire' | 'socketio'} protocol
 * @param {string} url
 * @param {string} token
 * @param {Handlers} handlers
 * @param {number} timeoutMs
 * @returns {Promise<Client>}
 */
export function openClient(protocol, url, token, handlers, timeoutMs) {
  return protocol === 'socketio' ? openSocketIo(url, token, handlers, timeoutMs) : openRaw(url, token, handlers, timeoutMs);
}

/**
 * @param {string} url
 * @param {string} token
 * @param {Handlers} handlers
 * @param {number} timeoutMs
 * @returns {Promise<Client>}
 */
function openRaw(url, token, handlers, timeoutMs) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}?token=${token}`, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
    /** @type {Map<string, { resolve: () => void, reject: (e: Error) => void }>} */
    const joins = new Map();
    let nextJoin = 0;
    let closing = false;
    ws.on('message', (raw) => {
      const frame = JSON.parse(String(raw));
      switch (frame.type) {
        case 'message':
          handlers.onMessage(frame.room, frame.data);
          break;
        case 'ack':
          handlers.onAck();
          break;
        case 'joined':
          joins.get(frame.id)?.resolve();
          joins.delete(frame.id);
          break;
        case 'error': {
          const join = joins.get(frame.id);
          if (join !== undefined) {
            joins.delete(frame.id);
            join.reject(new Error(`join refused: ${frame.code}`));
          } else handlers.onError(String(frame.code));
          break;
        }
        default:
          break;
      }
    });
    ws.once('open', () =>
      resolve({
        join(room) {
          const id = `j${(nextJoin += 1)}`;
          return new Promise((res, rej) => {
            joins.set(id, { resolve: res, reject: rej });
            ws.send(JSON.stringify({ action: 'join', room, id }));
          });
        },
        publish(room, event, data, id) {
          if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ action: 'publish', room, event, data, id }));
        },
        close() {
          closing = true;
          ws.terminate();
        },
      }),
    );
    ws.once('unexpected-response', (_req, res) => {
      closing = true;
      reject(new Error(`upgrade refused: HTTP ${res.statusCode}`));
      ws.terminate();
    });
    ws.on('error', (error) => {
      if (ws.readyState !== WebSocket.OPEN) reject(error);
    });
    ws.once('close', () => {
      for (const join of joins.values()) join.reject(new Error('closed'));
      joins.clear();
      if (!closing) handlers.onClose();
    });
  });
}

/**
 * @param {string} url
 * @param {string} token
 * @param {Handlers} handlers
 * @param {number} timeoutMs
 * @returns {Promise<Client>}
 */
function openSocketIo(url, token, handlers, timeoutMs) {
  return new Promise((resolve, reject) => {
    const socket = io(url, { transports: ['websocket'], auth: { token }, forceNew: true, reconnection: false, timeout: timeoutMs });
    let closing = false;
    socket.on('message', (/** @type {any} */ frame) => handlers.onMessage(frame.room, frame.data));
    const onAck = () => handlers.onAck();
    socket.once('connect', () =>
      resolve({
        join(room) {
          return new Promise((res, rej) => {
            socket.timeout(timeoutMs).emit('join', { room }, (/** @type {Error | null} */ error) => (error ? rej(error) : res()));
          });
        },
        publish(room, event, data, id) {
          socket.emit('publish', { room, event, data, id }, onAck);
        },
        close() {
          closing = true;
          socket.disconnect();
        },
      }),
    );
    socket.once('connect_error', (error) => {
      closing = true;
      socket.disconnect();
      reject(error);
    });
    socket.on('disconnect', () => {
      if (!closing) handlers.onClose();
    });
  });
}
