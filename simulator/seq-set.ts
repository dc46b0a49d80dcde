/*
 * The set of sequence numbers an observer has seen from one device, held as sorted runs of
 * consecutive numbers ([start, end) pairs) instead of one entry per number. A node's readings
 * arrive mostly in order, so a whole day of them (86,400 for a node at 1 s) is one run: the
 * observer's memory no longer grows with a run's length. A lost reading leaves a gap (two
 * runs); a backlog that arrives after newer live readings fills its gap and the runs merge.
 * It answers exactly what a Set<number> of the same numbers would (`has`, `add`, `size`);
 * test/seq-set.test.ts checks it against one.
 */
export class SeqSet {
  /** starts[i] <= every number of run i < ends[i]; runs sorted, disjoint and never adjacent. */
  readonly #starts: number[] = [];
  readonly #ends: number[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** How many runs the set holds (its memory: two numbers a run). */
  get runs(): number {
    return this.#starts.length;
  }

  has(n: number): boolean {
    const i = this.#runBefore(n);
    return i >= 0 && n < this.#ends[i]!;
  }

  /** Adds `n` (an integer); false when it was already there. */
  add(n: number): boolean {
    const starts = this.#starts;
    const ends = this.#ends;
    const i = this.#runBefore(n);
    if (i >= 0 && n < ends[i]!) return false;
    this.#size++;
    const joinsBefore = i >= 0 && ends[i] === n;
    const joinsAfter = i + 1 < starts.length && starts[i + 1] === n + 1;
    if (joinsBefore && joinsAfter) {
      ends[i] = ends[i + 1]!;
      starts.splice(i + 1, 1);
      ends.splice(i + 1, 1);
    } else if (joinsBefore) {
      ends[i] = n + 1;
    } else if (joinsAfter) {
      starts[i + 1] = n;
    } else {
      starts.splice(i + 1, 0, n);
      ends.splice(i + 1, 0, n + 1);
    }
    return true;
  }

  /** The index of the last run starting at or below `n`, or -1. The last run first: the usual case. */
  #runBefore(n: number): number {
    const starts = this.#starts;
    let hi = starts.length - 1;
    if (hi < 0 || starts[hi]! <= n) return hi;
    let lo = 0;
    // Invariant: starts[hi] > n; the answer is in [lo - 1, hi - 1].
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid]! <= n) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }
}
