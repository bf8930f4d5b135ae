import { ClasswireClient, type ClientOptions, type ConnectionState } from '@classwire/client';
import { useEffect, useRef, useState } from 'react';

export interface UseClient {
  /** The client; undefined until the component has mounted (it is created in an effect). */
  client: ClasswireClient | undefined;
  /** The connection's state: `idle` before there is a client. */
  state: ConnectionState;
  /** The last error the client reported (a refused token, a failed resume…). */
  error: unknown;
}

/**
 * A Classwire client for this component. Given options, it creates and connects one when the component
 * mounts (again when `url` changes) and closes it on unmount; the latest `getToken` is always the one
 * called. Given a client, it only follows that client's state (its owner closes it).
 */
export function useClient(clientOrOptions: ClasswireClient | ClientOptions): UseClient {
  const given = clientOrOptions instanceof ClasswireClient ? clientOrOptions : undefined;
  const options = useRef(clientOrOptions);
  options.current = clientOrOptions;
  const url = given === undefined ? (clientOrOptions as ClientOptions).url : undefined;
  const [client, setClient] = useState<ClasswireClient | undefined>(given);
  const [state, setState] = useState<ConnectionState>(given?.state ?? 'idle');
  const [error, setError] = useState<unknown>();

  useEffect(() => {
    let current = given;
    if (current === undefined) {
      const initial = options.current as ClientOptions;
      current = new ClasswireClient({
        ...initial,
        getToken:
          initial.getToken === undefined
            ? undefined
            : () => {
                const latest = options.current as ClientOptions;
                return (latest.getToken ?? initial.getToken!)();
              },
      });
    }
    const session = current;
    setClient(session);
    setState(session.state);
    const offState = session.on('state', ({ state: next }) => setState(next));
    const offError = session.on('error', (cause) => setError(() => cause));
    // A failed first connection is reported through `state` and `error`; the promise adds nothing.
    if (given === undefined) void session.connect().catch(() => undefined);
    return () => {
      offState();
      offError();
      if (given === undefined) session.close();
    };
  }, [given, url]);

  return { client, state, error };
}
