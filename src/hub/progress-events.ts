/** What a pull reports while it runs; `bytes` events carry the increment, not a running total. */
export type DownloadProgress =
  /** Another gemma process (`pid`) is pulling the same repo: this pull waits for it, then uses what it downloaded. */
  | { kind: 'wait'; pid: number }
  /** Files about to be fetched (sent once for the small files and the index, once for the weights). */
  | { kind: 'plan'; files: { path: string; size: number }[] }
  /** A transfer begins at `offset`: the bytes a partial download already holds. */
  | { kind: 'start'; path: string; size: number; offset: number }
  | { kind: 'bytes'; path: string; bytes: number }
  /** The partial bytes were dropped and the file starts again from zero. */
  | { kind: 'restart'; path: string; reason: string }
  | { kind: 'retry'; path: string; attempt: number; delayMs: number; reason: string }
  | { kind: 'done'; path: string; size: number };
