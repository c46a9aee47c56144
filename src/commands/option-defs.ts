import { Command, InvalidArgumentError, Option } from 'commander';

/** One CLI option, defined once: commander registration, parsing, defaults, help and docs all come from it. */
export interface OptionDef<T> {
  /** commander flags, e.g. '-n, --max-tokens <n>' */
  flags: string;
  description: string;
  default: T;
  /** Absent for boolean switches. */
  parse?: (raw: string) => T;
  choices?: readonly string[];
}

export type OptionDefs = Record<string, OptionDef<unknown>>;
export type OptionValues<D extends OptionDefs> = { [K in keyof D]: D[K] extends OptionDef<infer T> ? T : never };

export const flag = (flags: string, description: string): OptionDef<boolean> => ({ flags, description, default: false });

export function choice<const C extends readonly string[]>(flags: string, description: string, choices: C, fallback: C[number]): OptionDef<C[number]> {
  return { flags, description, default: fallback, choices };
}

/** One of `choices`, or undefined when left out and decided from other options. */
export function optionalChoice<const C extends readonly string[]>(flags: string, description: string, choices: C): OptionDef<C[number] | undefined> {
  return { flags, description, default: undefined, choices };
}

export function integer(flags: string, description: string, fallback: number, check: (n: number) => string | undefined): OptionDef<number> {
  return {
    flags, description, default: fallback,
    parse: (raw) => {
      const n = /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      const problem = Number.isSafeInteger(n) ? check(n) : 'must be an integer';
      if (problem !== undefined) throw new InvalidArgumentError(problem);
      return n;
    },
  };
}

/** A number that, when left out, comes from elsewhere (the model's generation_config.json). */
export function optionalNumber(flags: string, description: string, check: (n: number) => string | undefined, integerOnly = false): OptionDef<number | undefined> {
  return {
    flags, description, default: undefined,
    parse: (raw) => {
      const n = raw.trim() === '' ? NaN : Number(raw);
      const problem = !Number.isFinite(n) ? 'must be a number' : integerOnly && !Number.isInteger(n) ? 'must be an integer' : check(n);
      if (problem !== undefined) throw new InvalidArgumentError(problem);
      return n;
    },
  };
}

/** Comma-separated integers (`-p 128,512`), each checked. */
export function integerList(flags: string, description: string, fallback: number[], check: (n: number) => string | undefined): OptionDef<number[]> {
  return {
    flags, description, default: fallback,
    parse: (raw) => raw.split(',').map((part) => {
      const n = /^\s*-?\d+\s*$/.test(part) ? Number(part) : NaN;
      const problem = Number.isSafeInteger(n) ? check(n) : `'${part}' is not an integer`;
      if (problem !== undefined) throw new InvalidArgumentError(problem);
      return n;
    }),
  };
}

export function text(flags: string, description: string): OptionDef<string | undefined> {
  return { flags, description, default: undefined, parse: (raw) => raw };
}

export const inRange = (min: number, max: number) => (n: number): string | undefined =>
  n < min || n > max ? `must be from ${min} to ${max}` : undefined;

/** `check`, but `value` is also accepted: llama.cpp's -1 and 0 for "random" and "the model's size". */
export const orExactly = (value: number, check: (n: number) => string | undefined) => (n: number): string | undefined => {
  const problem = n === value ? undefined : check(n);
  return problem === undefined ? undefined : `${problem}, or ${value}`;
};

export const powerOfTwo = (min: number, max: number) => (n: number): string | undefined =>
  n < min || n > max || (n & (n - 1)) !== 0 ? `must be a power of two from ${min} to ${max}` : undefined;

/** Registers the definitions on a commander command. */
export function addOptions(cmd: Command, defs: OptionDefs): Command {
  for (const [key, def] of Object.entries(defs)) {
    const option = new Option(def.flags, def.description);
    // The typed values are read back by key, so a key must be the name commander stores the value under.
    if (option.attributeName() !== key) throw new Error(`option key ${key} does not match ${def.flags} (${option.attributeName()})`);
    if (def.choices !== undefined) option.choices(def.choices);
    if (def.parse !== undefined) option.argParser(def.parse);
    if (def.default !== undefined && def.default !== false) option.default(def.default);
    cmd.addOption(option);
  }
  return cmd;
}

/** The parsed values, typed by the definitions, with defaults filled in. */
export function optionValues<D extends OptionDefs>(defs: D, raw: Record<string, unknown>): OptionValues<D> {
  const values: Record<string, unknown> = {};
  for (const key of Object.keys(defs)) values[key] = raw[key] ?? defs[key]!.default;
  return values as OptionValues<D>;
}

/** A subcommand taking one positional argument, whose options reach `action` as one typed object. */
export function commandWithArgument<D extends OptionDefs>(
  name: string, description: string, argument: [string, string], defs: D, action: (arg: string, options: OptionValues<D>) => Promise<void>,
): Command {
  const cmd = addOptions(new Command(name).description(description).argument(...argument), defs);
  return cmd.action((arg: string, raw: Record<string, unknown>) => action(arg, optionValues(defs, raw)));
}
