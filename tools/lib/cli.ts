// Tiny CLI plumbing shared by the Node tools: flag parsing, strict number parsing, and a main()
// wrapper that turns user errors into one stderr line + exit code 2.

/** A problem with the user's input (flags, pack, class...): one line on stderr, exit code 2. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

export type FlagSpec = Record<string, 'string' | 'boolean'>;
export type Flags = Record<string, string | boolean | undefined>;

/** Parses `--name value`, `--name=value` and boolean `--name`; rejects unknown flags and positionals. */
export function parseFlags(argv: readonly string[], spec: FlagSpec): Flags {
  const out: Flags = {};
  for (let k = 0; k < argv.length; k++) {
    const arg = argv[k];
    if (!arg.startsWith('--')) throw new CliError(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const kind = spec[name];
    if (!kind) throw new CliError(`unknown flag --${name} (known: ${Object.keys(spec).map((s) => `--${s}`).join(', ')})`);
    if (name in out) throw new CliError(`--${name} given twice`);
    if (kind === 'boolean') {
      if (eq >= 0) throw new CliError(`--${name} takes no value`);
      out[name] = true;
    } else if (eq >= 0) {
      out[name] = arg.slice(eq + 1);
    } else {
      if (k + 1 >= argv.length) throw new CliError(`--${name} needs a value`);
      out[name] = argv[++k];
    }
  }
  return out;
}

export function str(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

/** A finite number (rejects "", "1e", "abc", "Infinity", "NaN"). */
export function finiteNumber(v: string, name: string): number {
  const n = v.trim() === '' ? NaN : Number(v);
  if (!Number.isFinite(n)) throw new CliError(`--${name} must be a finite number (got "${v}")`);
  return n;
}

/** An integer >= min (and <= max when given) written in plain decimal digits. */
export function integer(v: string, name: string, min: number, max?: number): number {
  const t = v.trim();
  const n = /^-?\d+$/.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(n) || n < min || (max !== undefined && n > max)) {
    throw new CliError(`--${name} must be an integer >= ${min}${max !== undefined ? ` and <= ${max}` : ''} (got "${v}")`);
  }
  return n;
}

/** A number within the app's limits (src/shared/protocol.ts LIMITS), the rule the UI applies too. */
export function numberInLimits(v: string, name: string, r: { readonly min: number; readonly max: number }): number {
  const n = finiteNumber(v, name);
  if (n < r.min || n > r.max) throw new CliError(`--${name} must be a number from ${r.min} to ${r.max}, as in the app (got "${v}")`);
  return n;
}

/**
 * Runs a tool's main. A CliError prints "<tool>: error: ..." and exits 2 (wrap library validation
 * in asUserError to get that); anything else is a bug or a runtime failure and exits 1.
 */
export function runMain(tool: string, main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      const oneLine = e.message.replace(/\s*\n\s*/g, ' ');
      if (e instanceof CliError) {
        process.stderr.write(`${tool}: error: ${oneLine}\n`);
        process.exit(2);
      }
      process.stderr.write(`${tool}: internal error: ${oneLine}\n${process.env.DEBUG ? `${e.stack}\n` : ''}`);
      process.exit(1);
    },
  );
}

/** Runs `f`, rethrowing any Error from it as a CliError (for validation done by library code). */
export function asUserError<T>(f: () => T, prefix = ''): T {
  try {
    return f();
  } catch (e) {
    throw new CliError(prefix + (e instanceof Error ? e.message : String(e)));
  }
}
