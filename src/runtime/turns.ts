/**
 * Graph runs one at a time, in the order asked. Engines sharing one take turns: gemma serve's slots, whose runs in
 * different stages' workers at once would split the cores each run already uses whole (docs/serve.md).
 */
export class Turns {
  private last: Promise<unknown> = Promise.resolve();

  take<T>(run: () => Promise<T>): Promise<T> {
    const next = this.last.then(run);
    this.last = next.catch(() => undefined);
    return next;
  }
}
