// Errors of the checkpoint reader. Low-level code throws a `Refusal` (a reason without a file
// name); the public functions turn it into a CheckpointError naming the file, so every message reads
// as one line in the page: "refusing 64x64_diffusion.pt: its pickle references the Python object os.system; ...".

/** The file cannot be read as a checkpoint: empty, truncated, not a torch.save file, or numbers that do not add up. */
export class CheckpointError extends Error {
  /** The one-line explanation, without the file name. */
  readonly reason: string;
  /** The file's name as given to the reader. */
  readonly fileName: string;
  /** True for files holding something other than weights and plain data (code, TorchScript, foreign zip entries). */
  readonly unsafe: boolean;

  constructor(fileName: string, reason: string, unsafe = false) {
    super(`${unsafe ? 'refusing' : 'cannot read'} ${fileName}: ${reason}`);
    this.name = unsafe ? 'UnsafeCheckpointError' : 'CheckpointError';
    this.reason = reason;
    this.fileName = fileName;
    this.unsafe = unsafe;
  }
}

/** The file holds something other than weights and plain data; nothing in it was run or kept. */
export class UnsafeCheckpointError extends CheckpointError {
  constructor(fileName: string, reason: string) {
    super(fileName, reason, true);
  }
}

/** Internal: thrown below the public API, which adds the file name. */
export class Refusal extends Error {
  readonly unsafe: boolean;
  constructor(reason: string, unsafe: boolean) {
    super(reason);
    this.unsafe = unsafe;
  }
}

/** A damaged or unreadable file (truncated, inconsistent numbers, not a torch.save file). */
export function damaged(reason: string): Refusal {
  return new Refusal(reason, false);
}

/** Content torch.save never writes and that could run code or fool the reader. */
export function unsafe(reason: string): Refusal {
  return new Refusal(reason, true);
}

/** `err` as the public error for `fileName`; anything that is not a Refusal is re-thrown unchanged. */
export function named(fileName: string, err: unknown): CheckpointError {
  if (err instanceof CheckpointError) return err;
  if (err instanceof Refusal) {
    const reason = mapControls(err.message, () => ' '); // one line, whatever a file's names hold
    return err.unsafe ? new UnsafeCheckpointError(fileName, reason) : new CheckpointError(fileName, reason);
  }
  throw err;
}

function mapControls(text: string, to: (code: number) => string): string {
  let out = '';
  for (const ch of text) {
    const code = ch.charCodeAt(0);
    out += code < 0x20 || code === 0x7f ? to(code) : ch;
  }
  return out;
}

/** A name from the file, shown in a message: control characters escaped, at most `limit` characters. */
export function shown(name: string, limit = 120): string {
  const s = mapControls(name, (code) => `\\x${code.toString(16).padStart(2, '0')}`);
  return s.length <= limit ? s : `${s.slice(0, limit - 3)}...`;
}

/** `text` on one line (whitespace runs collapsed), cut to `limit` characters. */
export function oneLine(text: string, limit = 200): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length <= limit ? t : `${t.slice(0, limit - 3)}...`;
}

/** A name from the file in quotes, escaped like a JSON string and cut to `limit` characters. */
export function quoted(name: string, limit = 120): string {
  return JSON.stringify(name.length <= limit ? name : `${name.slice(0, limit - 3)}...`);
}

/** A shape or stride as Python prints a tuple, at most 8 entries shown. */
export function dims(values: readonly number[]): string {
  const head = values.slice(0, 8).join(', ');
  return `(${head}${values.length > 8 ? ', ...' : values.length === 1 ? ',' : ''})`;
}

/** Up to `n` names quoted and joined, with ", ..." when there are more. */
export function listSome(items: readonly string[], n = 3): string {
  const some = items.slice(0, n).map((s) => quoted(s)).join(', ');
  return items.length > n ? `${some}, ...` : some;
}
