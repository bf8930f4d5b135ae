import { ClasswireClient, type ClientOptions, type ConnectionState } from '@classwire/client';
import { onScopeDispose, shallowRef, type ShallowRef } from 'vue';

export interface UseClient {
  client: ClasswireClient;
  /** The connection's state, updated as it changes. */
  state: Readonly<ShallowRef<ConnectionState>>;
  /** The last error the client reported (a refused token, a failed resume…). */
  error: Readonly<ShallowRef<unknown>>;
}

/**
 * A Classwire client for this component (or effect scope). Given options, it creates and connects one and
 * closes it when the scope ends; given a client, it only follows that client's state (its owner closes it).
 */
export function useClient(clientOrOptions: ClasswireClient | ClientOptions): UseClient {
  const owned = !(clientOrOptions instanceof ClasswireClient);
  const client = owned ? new ClasswireClient(clientOrOptions) : clientOrOptions;
  const state = shallowRef<ConnectionState>(client.state);
  const error = shallowRef<unknown>();
  const offState = client.on('state', ({ state: next }) => {
    state.value = next;
  });
  const offError = client.on('error', (cause) => {
    error.value = cause;
  });
  // A failed first connection is reported through `state` and `error`; the promise adds nothing.
  if (owned) void client.connect().catch(() => undefined);
  onScopeDispose(() => {
    offState();
    offError();
    if (owned) client.close();
  });
  return { client, state, error };
}
