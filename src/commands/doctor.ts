import { Command } from 'commander';
import { availableParallelism, cpus } from 'node:os';
import { probeExecutionProvider, type ProbeResult } from '../cuda/ep-probe.js';
import { findGpus, type GpuReport } from '../cuda/gpu.js';
import { CUDA_PROVIDER_PACKAGE, ortLibDir, ortNodeVersion } from '../cuda/provider-package.js';
import { providerStatus, readinessProblems, type ProviderStatus } from '../cuda/provider-status.js';
import { DOCTOR_OPTIONS } from './doctor-options.js';
import { addOptions, optionValues, type OptionValues } from './option-defs.js';
import { spinner } from './progress.js';

type DoctorOptions = OptionValues<typeof DOCTOR_OPTIONS>;
type CudaProbe = ProbeResult | { ok: false; tried: false; reason: string };

interface Diagnosis {
  node: string;
  onnxruntime: string;
  cpu: { model: string; cores: number };
  providers: { cpu: ProbeResult; cuda: CudaProbe };
  gpu: GpuReport;
  providerLibs: ProviderStatus;
  /** What stands between this machine and the CUDA provider, each with its fix. */
  problems: string[];
}

/** Probing CUDA costs a process start and, with the libraries present, a CUDA context; without either it cannot work. */
async function probeCuda(gpu: GpuReport, libs: ProviderStatus): Promise<CudaProbe> {
  if (gpu.gpus.length === 0 && libs.files.every((f) => !f.present)) {
    return { ok: false, tried: false, reason: 'not tried: no NVIDIA GPU and no CUDA provider libraries' };
  }
  return probeExecutionProvider('cuda');
}

async function diagnose(): Promise<Diagnosis> {
  const [gpu, providerLibs, cpu] = await Promise.all([findGpus(), providerStatus(ortLibDir()), probeExecutionProvider('cpu')]);
  const onnxruntime = ortNodeVersion();
  const problems = readinessProblems(gpu.note, gpu.gpus.length, providerLibs);
  if (onnxruntime !== CUDA_PROVIDER_PACKAGE.ortVersion) {
    problems.push(`onnxruntime-node is ${onnxruntime} but the CUDA provider libraries are built for ${CUDA_PROVIDER_PACKAGE.ortVersion} (reinstall onnxruntime-node ${CUDA_PROVIDER_PACKAGE.ortVersion})`);
  }
  return {
    node: process.version, onnxruntime, cpu: { model: cpus()[0]?.model.trim() ?? 'unknown', cores: availableParallelism() },
    providers: { cpu, cuda: await probeCuda(gpu, providerLibs) }, gpu, providerLibs, problems,
  };
}

const probeText = (p: CudaProbe): string => (p.ok ? `works (${p.ms} ms)` : 'tried' in p ? p.reason : `fails: ${p.reason}`);

function gpuLines(gpu: GpuReport): string[] {
  if (gpu.gpus.length === 0) return [`none (${gpu.note ?? 'none reported'})`];
  return gpu.gpus.map((g) => [g.name, g.memoryMiB && `${(g.memoryMiB / 1024).toFixed(0)} GiB`, g.busId].filter(Boolean).join(', '));
}

function rows(d: Diagnosis): [string, string[]][] {
  const width = Math.max(...d.providerLibs.files.map((f) => f.name.length));
  const cudnn = d.providerLibs.cudnn;
  return [
    ['node', [d.node]],
    ['onnxruntime', [`${d.onnxruntime} (onnxruntime-node)`]],
    ['cpu', [`${d.cpu.model}, ${d.cpu.cores} cores`]],
    ['providers', [`cpu   ${probeText(d.providers.cpu)}`, `cuda  ${probeText(d.providers.cuda)}`]],
    ['gpu', gpuLines(d.gpu)],
    ['driver', [d.gpu.driver ?? '-']],
    ['cuda libs', [d.providerLibs.dir, ...d.providerLibs.files.map((f) => `${f.name.padEnd(width)}  ${f.present ? 'found' : 'missing'}`)]],
    ['cudnn', [cudnn.path ?? `${cudnn.name} not found (optional: loaded only by models that need it)`]],
    ['to fix', d.problems.length === 0 ? ['nothing: CUDA should work'] : d.problems],
  ];
}

function render(d: Diagnosis): string {
  const table = rows(d);
  const width = Math.max(...table.map(([label]) => label.length)) + 2;
  return table.flatMap(([label, values]) => values.map((v, i) => `${(i === 0 ? label : '').padEnd(width)}${v}`)).join('\n');
}

async function doctor(o: DoctorOptions): Promise<void> {
  const wait = spinner(!o.json && process.stderr.isTTY === true, 'checking execution providers');
  const diagnosis = await diagnose();
  wait.stop();
  process.stdout.write(`${o.json ? JSON.stringify(diagnosis) : render(diagnosis)}\n`);
}

export function doctorCommand(): Command {
  const cmd = new Command('doctor').description('report what this machine can run on: versions, CPU, GPU and driver, working execution providers, CUDA libraries and what is missing');
  addOptions(cmd, DOCTOR_OPTIONS);
  return cmd.action((raw: Record<string, unknown>) => doctor(optionValues(DOCTOR_OPTIONS, raw)));
}
