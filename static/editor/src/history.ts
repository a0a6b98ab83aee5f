// Undo/redo over immutable snapshots of the graph. Snapshots are cheap (the graph is never mutated in place, so a
// snapshot shares everything that did not change). Typing into a field would make one entry per key press; edits
// with the same key close together in time are merged into one entry instead.

export class History<T> {
  private past: T[] = [];
  private future: T[] = [];
  private lastKey: string | undefined;
  private lastAt = 0;

  constructor(
    private readonly limit = 200,
    private readonly mergeWindowMs = 1500,
  ) {}

  /** Records `prev`, the state before a change. A change with the same `key` as the previous one, soon after, merges. */
  record(prev: T, key?: string, now = Date.now()): void {
    this.future = [];
    if (key !== undefined && key === this.lastKey && now - this.lastAt < this.mergeWindowMs) {
      this.lastAt = now;
      return;
    }
    this.past.push(prev);
    if (this.past.length > this.limit) this.past.shift();
    this.lastKey = key;
    this.lastAt = now;
  }

  /** Returns the state to go back to, given the current one, or undefined when there is none. */
  undo(current: T): T | undefined {
    const prev = this.past.pop();
    if (prev === undefined) return undefined;
    this.future.push(current);
    this.lastKey = undefined;
    return prev;
  }

  redo(current: T): T | undefined {
    const next = this.future.pop();
    if (next === undefined) return undefined;
    this.past.push(current);
    this.lastKey = undefined;
    return next;
  }

  clear(): void {
    this.past = [];
    this.future = [];
    this.lastKey = undefined;
  }

  get canUndo(): boolean {
    return this.past.length > 0;
  }
  get canRedo(): boolean {
    return this.future.length > 0;
  }
}
