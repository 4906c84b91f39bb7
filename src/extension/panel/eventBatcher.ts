/**
 * A live run's events on their way to the page: batched into one message per
 * `flushMs` (a training run can emit hundreds a second), each message at most
 * MAX_EVENTS_PER_MESSAGE events so a replayed burst stays a few hundred KB.
 */
import type { EngineEvent } from '../../shared/protocol';

const MAX_EVENTS_PER_MESSAGE = 2000;

export class EventBatcher {
  private queue: EngineEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly send: (events: EngineEvent[]) => void,
    private readonly flushMs: number,
  ) {}

  push(e: EngineEvent): void {
    this.queue.push(e);
    if (!this.timer) this.timer = setTimeout(() => this.flush(), this.flushMs);
  }

  /** Sends what is queued now. */
  flush(): void {
    this.cancelTimer();
    const events = this.queue;
    this.queue = [];
    for (let i = 0; i < events.length; i += MAX_EVENTS_PER_MESSAGE)
      this.send(events.slice(i, i + MAX_EVENTS_PER_MESSAGE));
  }

  /** Drops what is queued (the page's next snapshot holds it). */
  clear(): void {
    this.cancelTimer();
    this.queue = [];
  }

  private cancelTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
