// A checkpoint given by URL, before its download: one small Range request says how large it is and
// whether the server resumes (206), and a ByteSource over Range requests lets the reader check the
// zip's start and directory (preflightCheckpoint) before a gigabyte is fetched. Every way a fetch
// fails gets its own sentence: a CORS block (which fetch reports as a bare TypeError), an unreachable
// server, HTTP errors, and a web page where a file was expected.
import type { ByteSource } from '../../checkpoint';
import { urlFileName } from '../../shared/checkpointUrl';
import { errorText, parseContentRange } from '../storage/download';

export class UrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UrlError';
  }
}

export interface UrlHead {
  url: string;
  /** The file name the URL ends with (messages, the recognised list). */
  name: string;
  size: number;
  /** The server answers Range requests: the file is checked before the download, and a cut download resumes. */
  ranges: boolean;
  /** ETag or Last-Modified where the server shows one: a staged part is resumed only for the same file. */
  validator: string | null;
}

/** Requests to other sites never carry cookies (the released files need none). */
const INIT: RequestInit = { cache: 'no-store', credentials: 'omit' };

/**
 * Why fetching `url` threw. The browser hides the reason; a no-cors HEAD that gets an (opaque) answer
 * means the server is there and its CORS policy is what blocked the page. Under this page's
 * cross-origin isolation a server without a Cross-Origin-Resource-Policy header fails that probe
 * too, so a failed probe is reported as "unreachable or CORS".
 */
export async function blockedMessage(fetchFn: typeof fetch, url: string, cause: unknown): Promise<string> {
  const { host } = new URL(url);
  const name = urlFileName(url);
  let reachable = false;
  try {
    reachable = (await fetchFn(url, { ...INIT, method: 'HEAD', mode: 'no-cors' })).type === 'opaque';
  } catch {
    // unreachable, or refused by cross-origin isolation: said below
  }
  const drop = 'Download the file and drop it here, or open it with Checkpoint files.';
  if (reachable) return `${host} does not allow this page to read ${name} (its CORS policy). ${drop}`;
  return `could not read ${name} from ${host} (${errorText(cause)}): the server is unreachable, or its CORS policy does not allow this page `
    + `(the browser does not say which). Check the address; if it downloads in a browser tab, ${drop[0].toLowerCase()}${drop.slice(1)}`;
}

/** A response's status as a sentence, or null when it is a usable answer (200 or 206). */
function statusProblem(res: Response, url: string): string | null {
  const { host } = new URL(url);
  const name = urlFileName(url);
  if (res.status === 200 || res.status === 206) return null;
  if (res.status === 404 || res.status === 410) return `${host} has no file at this address (HTTP ${res.status}): check the URL of ${name}`;
  if (res.status === 401 || res.status === 403) return `${host} refused to send ${name} (HTTP ${res.status}): the link may need a login or have expired`;
  if (res.status === 416) return `${host} says ${name} is empty (HTTP 416)`;
  return `${host} answered HTTP ${res.status} ${res.statusText} for ${name}`.trim();
}

function htmlProblem(res: Response, url: string): string | null {
  const type = (res.headers.get('Content-Type') ?? '').toLowerCase();
  if (!type.startsWith('text/html')) return null;
  return `${url} is a web page (text/html), not a checkpoint file: probably a download or error page; give the file's direct link`;
}

function validatorOf(res: Response): string | null {
  return res.headers.get('ETag') ?? res.headers.get('Last-Modified');
}

/** A response's Content-Length as a byte count, null when it is missing or not a plain number. */
function contentLength(res: Response): number | null {
  const len = res.headers.get('Content-Length');
  return len !== null && /^\d+$/.test(len) ? Number(len) : null;
}

/** The size a response gives for the whole file: Content-Range's total, else (a 200) Content-Length. */
function sizeOf(res: Response): number | null {
  const range = parseContentRange(res.headers.get('Content-Range'));
  if (range?.total != null) return range.total;
  return res.status === 200 ? contentLength(res) : null;
}

/** Asks for the first bytes of `url`: its size, whether it resumes, and a clear error for every failure. */
export async function openUrl(fetchFn: typeof fetch, url: string, signal?: AbortSignal): Promise<UrlHead> {
  const name = urlFileName(url);
  const get = async (init: RequestInit): Promise<Response> => {
    try {
      return await fetchFn(url, { ...INIT, ...init, signal });
    } catch (e) {
      signal?.throwIfAborted();
      throw new UrlError(await blockedMessage(fetchFn, url, e));
    }
  };
  const res = await get({ headers: { Range: 'bytes=0-31' } });
  void res.body?.cancel().catch(() => {}); // a server that ignores the range would send the whole file
  const problem = statusProblem(res, url) ?? htmlProblem(res, url);
  if (problem) throw new UrlError(problem);
  let size = sizeOf(res);
  if (size === null && res.status === 206) {
    // A CORS answer shows Content-Range only when the server exposes it; HEAD's Content-Length is always readable.
    const head = await get({ method: 'HEAD' });
    size = head.ok ? contentLength(head) : null;
  }
  if (size === null) throw new UrlError(`${new URL(url).host} does not say how large ${name} is (no Content-Length), so the page cannot check its download; download it and drop it here`);
  if (size === 0) throw new UrlError(`${name} at ${new URL(url).host} is empty (0 bytes)`);
  return { url, name, size, ranges: res.status === 206, validator: validatorOf(res) };
}

/** The file at `head.url` read by Range requests (small reads only: the zip's start and directory). */
export function rangeSource(fetchFn: typeof fetch, head: UrlHead, signal?: AbortSignal): ByteSource {
  return {
    size: head.size,
    async read(offset, length) {
      if (length === 0) return new Uint8Array(0);
      let res: Response;
      try {
        res = await fetchFn(head.url, { ...INIT, signal, headers: { Range: `bytes=${offset}-${offset + length - 1}` } });
      } catch (e) {
        signal?.throwIfAborted();
        throw new UrlError(`the connection to ${new URL(head.url).host} failed (${errorText(e)})`);
      }
      const range = parseContentRange(res.headers.get('Content-Range'));
      if (res.status !== 206 || (range && (range.start !== offset || (range.total !== null && range.total !== head.size)))) {
        void res.body?.cancel().catch(() => {});
        throw new UrlError(`the server answered a request for bytes ${offset}..${offset + length} with HTTP ${res.status}${range ? ` (${range.start}-${range.end}/${range.total ?? '*'})` : ''}; has the file changed?`);
      }
      return new Uint8Array(await res.arrayBuffer());
    },
  };
}
