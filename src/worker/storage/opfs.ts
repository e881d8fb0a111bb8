// The part of the Origin Private File System the pack store uses, as minimal interfaces so that
// unit tests can pass an in-memory fake. In the worker these are the real FileSystem*Handle
// objects of navigator.storage.getDirectory(); files are written through synchronous access
// handles (worker-only, exclusive per file: a second tab cannot write the same file at once).

export interface SyncHandleLike {
  read(buffer: Uint8Array, options?: { at?: number }): number;
  write(buffer: Uint8Array, options?: { at?: number }): number;
  truncate(size: number): void;
  getSize(): number;
  flush(): void;
  close(): void;
}

export interface FileHandleLike {
  createSyncAccessHandle(): Promise<SyncHandleLike>;
}

export interface DirHandleLike {
  getFileHandle(name: string, options?: { create?: boolean }): Promise<FileHandleLike>;
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<DirHandleLike>;
  removeEntry(name: string): Promise<void>;
  keys(): AsyncIterable<string>;
}

/** The origin's private directory, or null where OPFS or synchronous access handles are missing. */
export async function openOpfsRoot(): Promise<DirHandleLike | null> {
  try {
    if (typeof navigator === 'undefined' || typeof navigator.storage?.getDirectory !== 'function') return null;
    if (typeof FileSystemFileHandle === 'undefined' || !('createSyncAccessHandle' in FileSystemFileHandle.prototype)) return null;
    return (await navigator.storage.getDirectory()) as unknown as DirHandleLike;
  } catch {
    return null; // e.g. storage blocked for this site: the app still works, without storing packs
  }
}

/** NotFoundError from getFileHandle/removeEntry (the entry does not exist). */
export function isNotFound(e: unknown): boolean {
  return e instanceof Error && e.name === 'NotFoundError';
}

/** The file is locked by another access handle (another tab, or a download still in progress). */
export function isLocked(e: unknown): boolean {
  return e instanceof Error && (e.name === 'NoModificationAllowedError' || e.name === 'InvalidStateError');
}

export function isQuotaExceeded(e: unknown): boolean {
  return e instanceof Error && e.name === 'QuotaExceededError';
}
