// Which checkpoint URLs the page may fetch, in one place: the servers' Content-Security-Policy
// (vite.config.ts's connect-src) is built from CHECKPOINT_CONNECT_SRC, and the page and the worker
// check a URL with checkpointUrlProblem before asking for it, so a refused URL gets a sentence
// instead of the bare TypeError a CSP or mixed-content block gives.

/**
 * connect-src sources for checkpoint files on other sites: any https: server (the released files are on
 * one), and plain http: only from this computer (a local server the visitor started; browsers treat
 * loopback as secure, so an https: page may fetch it too).
 */
export const CHECKPOINT_CONNECT_SRC = ['https:', 'http://localhost:*', 'http://127.0.0.1:*'] as const;

const LOOPBACK = new Set(['localhost', '127.0.0.1']);

/** The URLs in a text field: one per line (blank lines and surrounding spaces ignored). */
export function checkpointUrlLines(text: string): string[] {
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
}

/** The file name a URL names (its last path segment), for messages and the recognised list. */
export function urlFileName(url: string): string {
  try {
    const u = new URL(url);
    const last = u.pathname.split('/').filter((s) => s !== '').pop();
    if (!last) return u.host;
    try {
      return decodeURIComponent(last);
    } catch {
      return last;
    }
  } catch {
    return url;
  }
}

/**
 * Why the page cannot fetch `text` as a checkpoint (one sentence), or null when it may try. `pageUrl`:
 * the page's (or worker's) own URL, for the same-origin and mixed-content rules.
 */
export function checkpointUrlProblem(text: string, pageUrl: string): string | null {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return `"${text.slice(0, 80)}" is not a URL (give the whole address, starting with https://)`;
  }
  const page = new URL(pageUrl);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    return `${u.protocol} URLs cannot be read by the page; give an https:// address, or open the file with Checkpoint files`;
  }
  if (u.username || u.password) return `${u.host}: a URL with a user name or password in it is refused (the page never sends credentials)`;
  if (u.origin === page.origin) return null;
  if (u.protocol === 'http:' && !LOOPBACK.has(u.hostname)) {
    return page.protocol === 'https:'
      ? `${u.href} is plain http: and this page is https:, so the browser blocks it; use its https:// address, or download the file and drop it here`
      : `${u.href} is plain http: on another computer; the page fetches checkpoints over https:// (or from a server on this computer) only`;
  }
  return null;
}
