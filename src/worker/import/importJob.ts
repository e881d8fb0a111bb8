// One `importCheckpoints` request: the files -> a stored pack, with
// progress and one-line errors posted back. The fp16 U-Net is built only where this adapter could run it.
import { blobSource } from '../../checkpoint';
import type { FromWorker, ToWorker } from '../../shared/protocol';
import { probeAdapter } from '../runtime/capabilities';
import { errorText } from '../storage/download';
import { gpuOf } from '../runtime/gpu';
import { importCheckpoints, type ImportFile } from './importPack';
import type { PackStore } from '../storage/packStore';
import { TemplateSource } from './templateSource';
import { describeImport } from '../../shared/importTimings';

type ImportRequest = Extract<ToWorker, { kind: 'importCheckpoints' }>;

let templates: TemplateSource | null = null;

export async function runImport(msg: ImportRequest, store: PackStore | null, post: (m: FromWorker) => void): Promise<void> {
  const { importId } = msg;
  try {
    if (!store) throw new Error('this browser gives the page no private file storage (OPFS), where a pack built from checkpoint files has to be kept');
    if (templates?.baseUrl !== msg.templatesUrl) templates = new TemplateSource(msg.templatesUrl, self.location.href);
    const files: ImportFile[] = msg.files.map((f) => ({ name: f.name, source: blobSource(f) }));
    const probe = await probeAdapter(gpuOf(navigator));
    const fp16 = typeof probe === 'object' && probe.shaderF16 && !probe.software;
    const result = await importCheckpoints(files, templates, store, {
      fp16,
      appBase: msg.appBase,
      onRecognised: (rs) => post({ kind: 'importRecognised', importId, files: rs.map((r) => ({ name: r.fileName, slot: r.slot, description: r.description })) }),
      onProgress: (phase, file, loaded, total) => post({ kind: 'importProgress', importId, phase, file, loaded, total }),
    });
    console.info(`[import] ${result.manifest.name}: ${describeImport(result.timings)}`);
    post({ kind: 'importDone', importId, packUrl: result.packUrl, name: result.manifest.name, title: result.manifest.title, timings: result.timings });
  } catch (e) {
    post({ kind: 'importError', importId, message: errorText(e) });
  }
}
