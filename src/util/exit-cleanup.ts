/**
 * Runs `cleanup` (synchronously: nothing asynchronous runs at exit) if the process exits before
 * the returned function is called, e.g. by process.exit on a second Ctrl-C.
 */
export function cleanupOnExit(cleanup: () => void): () => void {
  const onExit = (): void => {
    try {
      cleanup();
    } catch {
      // The process is ending: there is no one left to tell.
    }
  };
  process.once('exit', onExit);
  return () => void process.off('exit', onExit);
}
