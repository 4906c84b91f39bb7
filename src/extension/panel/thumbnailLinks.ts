/**
 * Thumbnails as the page loads them: made (or found) by the ThumbnailCache,
 * then turned into webview URIs. An image that cannot be read gets no
 * thumbnail and one log line, however often the page asks for it.
 */
import type { ThumbnailCache } from './thumbnails';

export class ThumbnailLinks {
  private readonly loggedErrors = new Set<string>();

  constructor(
    private readonly cache: ThumbnailCache,
    private readonly toWebviewUri: (fsPath: string) => string,
    private readonly log?: (message: string) => void,
  ) {}

  /** `{ thumbnail }`, or `{}` when the image cannot be read. */
  async link(imagePath: string): Promise<{ thumbnail?: string }> {
    try {
      return { thumbnail: this.toWebviewUri(await this.cache.thumbnail(imagePath)) };
    } catch (e) {
      if (!this.loggedErrors.has(imagePath)) {
        this.loggedErrors.add(imagePath);
        this.log?.(`results panel: ${(e as Error).message}`);
      }
      return {};
    }
  }
}
