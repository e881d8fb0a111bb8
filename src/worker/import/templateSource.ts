// The app's graph templates (public/templates: index.json, <dir>/template.json, <dir>/<graph>.onnx), fetched
// from the app's own origin and checked against index.json's sizes and sha256 before use.
import { parseTemplate, parseTemplateIndex, type Template, type TemplateIndexEntry } from '../../checkpoint/templates';
import { errorText } from '../storage/download';
import { checkPackUrl, packFileUrl } from '../storage/packUrl';
import { sha256Hex } from '../storage/sha256';

/** template.json files are a few hundred KB (one line per checkpoint key); refuse anything far larger. */
const MAX_JSON_BYTES = 16 << 20;

export class TemplateSource {
  private index: Promise<TemplateIndexEntry[]> | null = null;
  private readonly templates = new Map<string, Promise<Template>>();
  private readonly fetchFn: typeof fetch;
  readonly baseUrl: string;

  /** `baseUrl`: the templates folder (ends with "/"), on the app's origin `appUrl`. */
  constructor(baseUrl: string, appUrl: string, fetchFn: typeof fetch = (input, init) => fetch(input, init)) {
    this.baseUrl = checkPackUrl(baseUrl, appUrl).href;
    this.fetchFn = fetchFn;
  }

  private async get(folder: string, file: string, expect?: { bytes: number; sha256: string }): Promise<Uint8Array<ArrayBuffer>> {
    const url = packFileUrl(folder, file);
    const name = url.slice(this.baseUrl.length);
    let res: Response;
    try {
      res = await this.fetchFn(url);
    } catch (e) {
      throw new Error(`could not fetch the template file ${name} (${errorText(e)})`, { cause: e });
    }
    if (!res.ok) throw new Error(`the template file ${name}: HTTP ${res.status}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (expect && (bytes.length !== expect.bytes || (await sha256Hex(bytes)) !== expect.sha256)) {
      throw new Error(`the template file ${name} is not the one templates/index.json lists (stale cache? reload the page)`);
    }
    if (!expect && bytes.length > MAX_JSON_BYTES) throw new Error(`the template file ${name} is larger than ${MAX_JSON_BYTES} bytes`);
    return bytes;
  }

  private folder(entry: TemplateIndexEntry): string {
    return checkPackUrl(new URL(`${entry.dir}/`, this.baseUrl).href, this.baseUrl).href;
  }

  entries(): Promise<TemplateIndexEntry[]> {
    this.index ??= this.get(this.baseUrl, 'index.json').then((b) => {
      let json: unknown;
      try {
        json = JSON.parse(new TextDecoder().decode(b));
      } catch {
        throw new Error('templates/index.json is not valid JSON');
      }
      return parseTemplateIndex(json);
    });
    this.index.catch(() => (this.index = null)); // a failed fetch is tried again by the next import
    return this.index;
  }

  template(entry: TemplateIndexEntry): Promise<Template> {
    let t = this.templates.get(entry.dir);
    if (!t) {
      t = this.get(this.folder(entry), 'template.json', entry.files['template.json']).then((b) =>
        parseTemplate(JSON.parse(new TextDecoder().decode(b)), `${entry.dir}/template.json`));
      t.catch(() => this.templates.delete(entry.dir));
      this.templates.set(entry.dir, t);
    }
    return t;
  }

  /** A template graph's .onnx file (weight-free), checked against index.json. */
  async graphBytes(entry: TemplateIndexEntry, file: string): Promise<Uint8Array<ArrayBuffer>> {
    const info = entry.files[file];
    if (!info) throw new Error(`templates/index.json lists no ${entry.dir}/${file}`);
    return this.get(this.folder(entry), file, info);
  }
}
