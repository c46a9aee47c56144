import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import type { ExternalRef } from './graph-builder.js';

/** Tensor offsets are multiples of this so every initializer can be memory-mapped. */
export const ALIGNMENT = 4096;

/** Appends tensors to one external data file, each starting on an aligned offset. */
export class ExternalDataWriter {
  private position = 0;
  private start = -1;

  private constructor(private readonly handle: FileHandle, private readonly location: string) {}

  static async create(path: string): Promise<ExternalDataWriter> {
    return new ExternalDataWriter(await open(path, 'w'), basename(path));
  }

  get bytesWritten(): number {
    return this.position;
  }

  /** Starts a tensor at the next aligned offset; the gap stays a hole in the file. */
  begin(): void {
    if (this.start !== -1) throw new Error('previous external tensor not ended');
    this.position = Math.ceil(this.position / ALIGNMENT) * ALIGNMENT;
    this.start = this.position;
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (this.start === -1) throw new Error('external tensor not begun');
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await this.handle.write(bytes, done, bytes.length - done, this.position);
      done += bytesWritten;
      this.position += bytesWritten;
    }
  }

  end(): ExternalRef {
    const ref = { location: this.location, offset: this.start, length: this.position - this.start };
    this.start = -1;
    return ref;
  }

  /** Writes a whole tensor in one call. */
  async tensor(bytes: Uint8Array): Promise<ExternalRef> {
    this.begin();
    await this.write(bytes);
    return this.end();
  }

  async close(): Promise<void> {
    await this.handle.sync();
    await this.handle.close();
  }
}
