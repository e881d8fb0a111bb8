// Bounds that keep a hostile file from making the reader work or allocate without end. Real
// checkpoints sit far below them: the released 512x512 U-Net has about 900 records and a data.pkl of
// about 150 kB, its pickle nests 4 deep.

export interface ReaderLimits {
  /** Zip entries (torch.save writes one per tensor storage plus about five). */
  maxEntries: number;
  /** Bytes of data.pkl, which is read into memory whole. */
  maxPickleBytes: number;
  /** Nesting of containers in the pickle (lists, dicts, tuples inside each other). */
  maxDepth: number;
}

export const DEFAULT_LIMITS: Readonly<ReaderLimits> = Object.freeze({
  maxEntries: 100_000,
  maxPickleBytes: 64 * 2 ** 20,
  maxDepth: 1000,
});
