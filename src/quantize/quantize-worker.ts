import { parentPort } from 'node:worker_threads';
import { quantizeRows, type QuantizedRows, type QuantScheme } from './block-quant.js';

export interface QuantizeRequest {
  id: number;
  values: Float32Array;
  rows: number;
  cols: number;
  scheme: QuantScheme;
}

export type QuantizeReply = { id: number; rows: QuantizedRows } | { id: number; error: string };

parentPort?.on('message', (request: QuantizeRequest) => {
  try {
    const rows = quantizeRows(request.values, request.rows, request.cols, request.scheme);
    const buffers = [rows.codes.buffer, rows.scales.buffer, ...(rows.zeroPoints !== undefined ? [rows.zeroPoints.buffer] : [])];
    parentPort!.postMessage({ id: request.id, rows } satisfies QuantizeReply, buffers as ArrayBuffer[]);
  } catch (err) {
    parentPort!.postMessage({ id: request.id, error: err instanceof Error ? err.message : String(err) } satisfies QuantizeReply);
  }
});
