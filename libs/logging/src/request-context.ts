import { AsyncLocalStorage } from 'node:async_hooks';

/** What every log line written while serving one HTTP request carries. */
export interface RequestContext {
  requestId: string;
}

/*
 * AsyncLocalStorage rather than a request-scoped Nest provider: a log line written by a library deep in the
 * call (a store, the error filter, a door's translator) gets the id without each caller passing it down, and
 * singletons stay singletons.
 */
const storage = new AsyncLocalStorage<RequestContext>();

export function runWithRequestContext<T>(context: RequestContext, fn: () => T): T {
  return storage.run(context, fn);
}

export function currentRequestContext(): RequestContext | undefined {
  return storage.getStore();
}
