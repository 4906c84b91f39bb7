/**
 * Keep the model fed: while the consumer works on batch i, batches
 * i+1 .. i+depth are already loading.
 */
export async function* prefetchBatches<T, R>(
  items: Iterable<T>,
  load: (item: T) => Promise<R>,
  depth = 1,
): AsyncGenerator<R> {
  const it = items[Symbol.iterator]();
  const queue: Promise<R>[] = [];
  const fill = (upTo: number) => {
    while (queue.length < upTo) {
      const n = it.next();
      if (n.done) return;
      const p = load(n.value);
      // Awaited later; this keeps an early failure from being reported as unhandled.
      p.catch(() => undefined);
      queue.push(p);
    }
  };
  fill(1);
  while (queue.length > 0) {
    const current = queue.shift()!;
    fill(depth);
    yield await current;
  }
}
