// JSON from files the app does not trust (a pack's manifest.json), parsed within bounds: at most
// `maxDepth` nested arrays/objects, checked on the text before JSON.parse builds anything, so a hostile
// file gets one sentence instead of "Maximum call stack size exceeded" from whatever walks the value
// later. The byte limit is the reader's (it knows the size before it has the text). Pure: no DOM.
// Same rules as adm/json_limits.py.

export class JsonLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JsonLimitError';
  }
}

/** True when arrays/objects nest more than `maxDepth` deep in the JSON `text` (brackets in strings ignored). */
export function nestsDeeperThan(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** JSON.parse of `text` nested at most `maxDepth` deep; JsonLimitError (one sentence) otherwise. */
export function parseJsonBounded(text: string, maxDepth: number): unknown {
  if (nestsDeeperThan(text, maxDepth)) throw new JsonLimitError(`it nests arrays or objects more than ${maxDepth} deep`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new JsonLimitError(`it is not valid JSON (${(e instanceof Error ? e.message : String(e)).slice(0, 120)})`);
  }
}
