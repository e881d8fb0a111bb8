// One `importCheckpoints` request: the files (opened, or given by URL) -> a stored pack, with progress and
// one-line errors posted back. Every URL is checked first: allowed, reachable, and (where the server answers
// Range requests) indexed by small Range reads (zip directory, local headers, data.pkl: the whole reader's
// rules) and recognised against the templates, so a wrong or hostile file is refused before a gigabyte is
// downloaded. Then each is downloaded into OPFS staging (./urlStaging.ts) and read from there like an opened file.
// The fp16 U-Net is built only where this adapter could run it.
import { blobSource, indexCheckpoint } from '../../checkpoint';
import { formatBytes } from '../../shared/bytes';
import { checkpointUrlProblem } from '../../shared/checkpointUrl';
import type { FromWorker, RecognisedFile, ToWorker } from '../../shared/protocol';
import { probeAdapter } from '../runtime/capabilities';
import { errorText } from '../storage/download';
import { defaultHashPool } from '../storage/graphFromStore';
import type { DirHandleLike } from '../storage/opfs';
import { gpuOf } from '../runtime/gpu';
import { importCheckpoints, type ImportFile } from './importPack';
import type { PackStore } from '../storage/packStore';
import { estimateHere, quotaProblem, type RoomMessage } from '../storage/quota';
import { recognise } from './recognise';
import { TemplateSource } from './templateSource';
import { describeImport } from '../../shared/importTimings';
import { openUrl, rangeSource, UrlError, type UrlHead } from './urlFetch';
import { Staging, type StagedFile } from './urlStaging';

type ImportRequest = Extract<ToWorker, { kind: 'importCheckpoints' }>;

let templates: TemplateSource | null = null;

/**
 * Checks every URL before anything is downloaded: allowed here, answering, and (by Range reads) a checkpoint
 * of a released network; returns what was recognised (a server without Range support: after its download).
 */
async function openUrls(urls: readonly string[], fetchFn: typeof fetch, source: TemplateSource): Promise<{ heads: UrlHead[]; recognised: RecognisedFile[] }> {
  const heads: UrlHead[] = [];
  const recognised: RecognisedFile[] = [];
  for (const url of urls) {
    const problem = checkpointUrlProblem(url, self.location.href);
    if (problem) throw new UrlError(problem);
    const head = await openUrl(fetchFn, url);
    if (head.ranges) {
      const r = await recognise(await indexCheckpoint(rangeSource(fetchFn, head), head.name), source);
      recognised.push({ name: r.fileName, slot: r.slot, description: r.description });
    }
    heads.push(head);
  }
  return { heads, recognised };
}

/** The import's words for a refusal (the rule is quotaProblem's, as for a pack load). */
const importRoomMessage: RoomMessage = ({ need, available }) =>
  `the download needs ${formatBytes(need)} of storage and the browser allows this page ${formatBytes(available)} more; `
  + 'delete cached packs or free disk space, or download the files and open them with Checkpoint files';

/** Refuses before the download when the browser's storage quota cannot hold the files (where it says). */
export async function checkDownloadRoom(staging: Pick<Staging, 'stagedBytes'>, heads: readonly UrlHead[], estimate = estimateHere): Promise<void> {
  if (heads.length === 0) return;
  let need = 0;
  for (const h of heads) need += h.size - (await staging.stagedBytes(h));
  const problem = quotaProblem(need, await estimate(), importRoomMessage);
  if (problem) throw new UrlError(problem);
}

export async function runImport(msg: ImportRequest, store: PackStore | null, root: DirHandleLike | null, post: (m: FromWorker) => void): Promise<void> {
  const { importId } = msg;
  const start = performance.now();
  const staged: { url: string; file: StagedFile }[] = [];
  let staging: Staging | null = null;
  try {
    if (!store || !root) throw new Error('this browser gives the page no private file storage (OPFS), where a pack built from checkpoint files has to be kept');
    if (templates?.baseUrl !== msg.templatesUrl) templates = new TemplateSource(msg.templatesUrl, self.location.href);
    const fetchFn: typeof fetch = (input, init) => fetch(input, init);
    const { heads, recognised } = await openUrls(msg.urls, fetchFn, templates);
    if (recognised.length > 0) post({ kind: 'importRecognised', importId, files: recognised });
    const t0 = performance.now();
    const stage = (staging = await Staging.open(root));
    await stage.removeOthers(msg.urls);
    await checkDownloadRoom(stage, heads);
    for (const head of heads) {
      const label = head.ranges ? head.name : `${head.name} (this server cannot resume a cut download)`;
      const file = await stage.download(fetchFn, head, (loaded, total) => post({ kind: 'importProgress', importId, phase: 'download', file: label, loaded, total }));
      staged.push({ url: head.url, file });
    }
    const downloadMs = performance.now() - t0;
    const files: ImportFile[] = [
      ...msg.files.map((f) => ({ name: f.name, source: blobSource(f) })),
      ...staged.map((s, i) => ({ name: heads[i].name, source: s.file.source })),
    ];
    const probe = await probeAdapter(gpuOf(navigator));
    const fp16 = typeof probe === 'object' && probe.shaderF16 && !probe.software;
    const result = await importCheckpoints(files, templates, store, {
      fp16,
      appBase: msg.appBase,
      // the hashing thread reads the data files in place: only where they can be shared memory
      hashers: globalThis.crossOriginIsolated === true ? defaultHashPool() : null,
      onRecognised: (rs) => post({ kind: 'importRecognised', importId, files: rs.map((r) => ({ name: r.fileName, slot: r.slot, description: r.description })) }),
      onProgress: (phase, file, loaded, total) => post({ kind: 'importProgress', importId, phase, file, loaded, total }),
    });
    // wall time of the whole request: the URL checks and downloads too
    const timings = { ...result.timings, downloadMs, totalMs: performance.now() - start };
    console.info(`[import] ${result.manifest.name}: ${describeImport(timings)}`);
    post({ kind: 'importDone', importId, packUrl: result.packUrl, name: result.manifest.name, title: result.manifest.title, timings });
  } catch (e) {
    post({ kind: 'importError', importId, message: errorText(e) });
  } finally {
    // A complete staged file has served its purpose (the pack is built, or the file was refused): remove it.
    // A cut download is not in `staged` and stays, for the next try to resume.
    for (const s of staged) {
      s.file.close();
      await staging?.remove(s.url).catch(() => {});
    }
  }
}
