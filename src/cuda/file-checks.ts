import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';

/** The digest of a file, read as a stream: the CUDA library is 230 MB. */
export async function hashFile(path: string, algorithm: 'sha256' | 'sha512', encoding: 'hex' | 'base64'): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest(encoding);
}

/** The npm `integrity` string (Subresource Integrity form) of a file. */
export const fileIntegrity = async (path: string): Promise<string> => `sha512-${await hashFile(path, 'sha512', 'base64')}`;

/** Whether the bytes occur in the file, searching chunk by chunk with an overlap so a match across chunks counts. */
export async function fileContains(path: string, needle: Buffer): Promise<boolean> {
  let tail = Buffer.alloc(0);
  for await (const chunk of createReadStream(path)) {
    const window = Buffer.concat([tail, chunk as Buffer]);
    if (window.includes(needle)) return true;
    tail = window.subarray(Math.max(0, window.length - needle.length + 1));
  }
  return false;
}

/** The ELF header fields (System V ABI) that tell a shared library onnxruntime can load here from any other file. */
const ELF = {
  magic: Buffer.from([0x7f, 0x45, 0x4c, 0x46]),
  headerBytes: 64,
  class64: 2,
  littleEndian: 1,
  typeOffset: 16,
  sharedObject: 3,
  machineOffset: 18,
  x86_64: 62,
};

/** Why `path` is not an x86-64 ELF shared library of at least `minBytes`, or undefined when it is one. */
export async function sharedLibraryProblem(path: string, minBytes: number): Promise<string | undefined> {
  const file = await open(path, 'r');
  try {
    const header = Buffer.alloc(ELF.headerBytes);
    const { bytesRead } = await file.read(header, 0, ELF.headerBytes, 0);
    if (bytesRead < ELF.headerBytes || !header.subarray(0, ELF.magic.length).equals(ELF.magic)) return 'not an ELF shared library';
    if (header[4] !== ELF.class64 || header[5] !== ELF.littleEndian) return 'not a 64-bit little-endian ELF file';
    if (header.readUInt16LE(ELF.typeOffset) !== ELF.sharedObject) return `an ELF file of type ${header.readUInt16LE(ELF.typeOffset)}, not a shared library`;
    if (header.readUInt16LE(ELF.machineOffset) !== ELF.x86_64) return `built for ELF machine ${header.readUInt16LE(ELF.machineOffset)}, not x86-64`;
    const { size } = await file.stat();
    return size < minBytes ? `${size} bytes, too small to be a build of it (at least ${minBytes})` : undefined;
  } finally {
    await file.close();
  }
}
