import type { Command } from 'commander';
import { join } from 'node:path';
import { exportModel, type ExportResult } from '../export/export.js';
import { defaultAccuracyLevel, DEFAULT_ATTENTION, defaultLayout, variantName, type WeightFormat } from '../quantize/precision.js';
import { GemmaError } from '../util/errors.js';
import { exportsDir, gemmaHome } from '../util/paths.js';
import { CHECKPOINT_ARGUMENT } from './model-argument.js';
import { resolveCheckpoint } from './model-source.js';
import { conversionProgress } from './conversion-progress.js';
import { interruptible } from './interrupt.js';
import { commandWithArgument, type OptionValues } from './option-defs.js';
import { formatBytes, interactive } from './progress.js';
import { QUANTIZE_OPTIONS } from './quantize-options.js';

type QuantizeOptions = OptionValues<typeof QUANTIZE_OPTIONS>;

/** Options that only mean something for quantized weights. */
const QUANTIZATION_OPTIONS = ['blockSize', 'scheme', 'accuracyLevel', 'keepEmbeddings'] as const;

const longFlag = (key: keyof typeof QUANTIZE_OPTIONS): string => QUANTIZE_OPTIONS[key].flags.split(/[ ,]+/).find((f) => f.startsWith('--'))!;

function weightFormat(o: QuantizeOptions): WeightFormat {
  if (o.precision === 'fp32') {
    const given = QUANTIZATION_OPTIONS.filter((key) => o[key] !== undefined && o[key] !== false).map(longFlag);
    if (given.length > 0) throw new GemmaError(`${given.join(', ')} ${given.length === 1 ? 'applies' : 'apply'} to int4 and int8: --precision fp32 keeps every weight in fp32`);
  }
  const accuracyLevel = o.accuracyLevel ?? defaultAccuracyLevel(o.ep);
  if (o.ep === 'cpu' && o.precision === 'int8' && accuracyLevel !== 4) {
    throw new GemmaError('int8 weights need --accuracy-level 4 on the CPU: at other levels MatMulNBits falls back to a kernel about 100x slower');
  }
  const layout = defaultLayout(o.precision, o.ep);
  return {
    precision: o.precision, blockSize: o.blockSize ?? layout.blockSize, asymmetric: o.scheme === undefined ? layout.asymmetric : o.scheme === 'asymmetric',
    accuracyLevel, keepEmbeddings: o.keepEmbeddings, ep: o.ep, attention: o.attention ?? DEFAULT_ATTENTION,
  };
}

function summary(result: ExportResult): Record<string, unknown> {
  const m = result.manifest;
  return { out: result.outDir, source: m.source.label, ...m.weights, variant: variantName(m.weights), ...m.sizes, stages: m.stages.length, nodes: m.nodes, seconds: Number(result.seconds.toFixed(2)) };
}

async function quantize(model: string, o: QuantizeOptions): Promise<void> {
  const format = weightFormat(o);
  if (o.out === '') throw new GemmaError(`${longFlag('out')} is empty: name the folder to write the export to, or leave it out for $GEMMA_HOME/models/<name>/<variant>`);
  const show = interactive(o.json);
  const source = await resolveCheckpoint(model, show);
  const outDir = o.out ?? join(exportsDir(gemmaHome(), source.name), variantName(format));
  const interrupt = interruptible();
  const progress = conversionProgress(show, { what: outDir, title: 'Converting' });
  try {
    const result = await exportModel({
      checkpointDir: source.dir, outDir, format, label: source.label, signal: interrupt.signal, ...(o.stages !== undefined ? { stages: o.stages } : {}), ...progress.callbacks,
    });
    progress.stop();
    if (o.json) {
      process.stdout.write(`${JSON.stringify(summary(result))}\n`);
      return;
    }
    const { modelBytes, dataBytes } = result.manifest.sizes;
    process.stdout.write(`${result.outDir}\n`);
    process.stderr.write(`${variantName(format)} export of ${source.label}: ${formatBytes(modelBytes + dataBytes)} in ${result.seconds.toFixed(1)} s\n`);
  } catch (err) {
    progress.stop();
    if (interrupt.signal.aborted) throw new GemmaError('interrupted: no output written');
    throw err;
  } finally {
    interrupt.dispose();
  }
}

export function quantizeCommand(): Command {
  return commandWithArgument('quantize', 'convert a Gemma 2 checkpoint folder (or the built-in tiny-random) into an ONNX model with int4, int8 or fp32 weights', CHECKPOINT_ARGUMENT, QUANTIZE_OPTIONS, quantize);
}
