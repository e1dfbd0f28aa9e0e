const PG_DEADLOCK_DETECTED = '40P01';

/**
 * Runs a transaction again when PostgreSQL picked it as a deadlock's victim. The victim is rolled back whole,
 * so running it again is safe; a Disable during an incident must not answer 500 because a worker happened to
 * hold a row the creation needed. The writers lock a task before its targets (see FINISH_TARGET_CTES), so
 * this is a backstop for orders nobody has found yet, not the way races are settled.
 */
export async function againAfterDeadlock<T>(run: () => Promise<T>, tries = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (e) {
      if ((e as { code?: string }).code !== PG_DEADLOCK_DETECTED || attempt >= tries) throw e;
    }
  }
}
