/**
 * The image files vembed searches with: one list for the explorer's context
 * menu (package.json, checked against this list by a test), the open dialog's
 * filter, and files dropped on the results panel. Every format here is one the
 * engine's decoder (sharp/libvips) reads.
 */
export const SEARCHABLE_IMAGE_EXTENSIONS = ['jpg', 'jpeg', 'png', 'webp', 'gif', 'bmp', 'tif', 'tiff', 'avif'] as const;

/** File extension (with its dot) for an image pasted or dropped as data of a MIME type. */
export const IMAGE_MIME_EXTENSIONS: Readonly<Record<string, string>> = {
  'image/jpeg': '.jpg',
  'image/png': '.png',
  'image/webp': '.webp',
  'image/gif': '.gif',
  'image/bmp': '.bmp',
  'image/tiff': '.tif',
  'image/avif': '.avif',
};

/** Whether a file name ends in one of the searchable extensions (any case). */
export function isSearchableImage(fileName: string): boolean {
  const dot = fileName.lastIndexOf('.');
  if (dot < 0) return false;
  return (SEARCHABLE_IMAGE_EXTENSIONS as readonly string[]).includes(fileName.slice(dot + 1).toLowerCase());
}
