// "Cached packs": the packs this browser keeps (the worker's OPFS store), each with its size and a
// Delete button, whether the storage is persistent, and how much of the site's quota is in use.
// A native <details> disclosure and a table: keyboard-usable, each button named after its pack.
import { formatBytes } from '../../shared/bytes';
import type { StorageEstimateInfo } from '../../shared/protocol';
import { useApp } from '../store/store';

interface Props {
  onRefresh: () => void;
  onDelete: (key: string) => void;
}

function persistenceText(e: StorageEstimateInfo | null): string {
  if (e?.persisted === true) return 'Storage is persistent: the browser keeps these packs until you delete them.';
  if (e?.persisted === false) return 'Storage is not persistent (the browser did not grant it): it may delete these packs when disk space runs low.';
  return 'Whether the browser keeps these packs under storage pressure is not known yet.';
}

export function StoragePanel({ onRefresh, onDelete }: Props) {
  const stored = useApp((s) => s.stored);
  const estimate = useApp((s) => s.storageEstimate);
  const packs = stored?.packs ?? [];
  const total = packs.reduce((s, p) => s + p.bytes, 0);
  return (
    <details className="storage-panel" onToggle={(e) => e.currentTarget.open && onRefresh()}>
      <summary>
        Cached packs{stored ? ` (${packs.length}, ${formatBytes(total)})` : ''}
      </summary>
      <div className="storage-body">
        {stored && !stored.available && (
          <p className="hint">This browser offers no private file storage (OPFS) to this page: packs are downloaded on every visit.</p>
        )}
        {stored?.error && <p className="field-error">{stored.error}</p>}
        <p className="hint">{persistenceText(estimate)}</p>
        {estimate?.usage != null && estimate.quota != null && (
          <p className="hint">
            This site uses {formatBytes(estimate.usage)} of the {formatBytes(estimate.quota)} the browser allows it.
          </p>
        )}
        {stored?.available && packs.length === 0 && <p className="hint">No packs are stored in this browser.</p>}
        {packs.length > 0 && (
          <table>
            <caption>Packs stored in this browser</caption>
            <thead>
              <tr>
                <th scope="col">Pack</th>
                <th scope="col">Size</th>
                <th scope="col">State</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {packs.map((p) => (
                <tr key={p.key}>
                  <th scope="row" title={p.packUrl}>
                    {p.title}
                  </th>
                  <td>{formatBytes(p.bytes)}</td>
                  <td>{p.complete ? 'complete' : `partial: ${formatBytes(p.bytes)} of ${formatBytes(p.totalBytes)}`}</td>
                  <td>
                    <button type="button" aria-label={`Delete ${p.title}`} onClick={() => onDelete(p.key)}>
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </details>
  );
}
