/**
 * The folder layout of a user's data: one folder per product holding its
 * images (`ROOT/sku-1/a.jpg`), optionally grouped under one folder per super
 * class (`ROOT/chairs/sku-1/a.jpg`). The product is the folder's path under
 * the root (`sku-1`, `chairs/sku-1`: folder names may repeat across super
 * classes), the super class its parent folder. Hidden entries (`.git`,
 * `.DS_Store`) and files that are not images are ignored; everything else
 * that does not fit the layout is named.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isSearchableImage } from '../../shared/imageFiles';
import { DataError, type DataProblem } from './problems';
import { parseLabel } from './pairDataset';
import { portableRelative, type LayoutRead, type ListedImage } from './productLayout';

interface FolderEntries {
  images: string[];
  folders: string[];
}

/** A folder's visible images and sub-folders, sorted by name so the result does not depend on the file system. */
function entriesOf(dir: string): FolderEntries {
  const out: FolderEntries = { images: [], folders: [] };
  const entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const full = path.join(dir, e.name);
    // Symbolic links count as what they point at.
    const isDir = e.isDirectory() || (e.isSymbolicLink() && statOrNull(full)?.isDirectory() === true);
    const isFile = e.isFile() || (e.isSymbolicLink() && statOrNull(full)?.isFile() === true);
    if (isDir) out.folders.push(full);
    else if (isFile && isSearchableImage(e.name)) out.images.push(full);
  }
  return out;
}

function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch {
    return null;
  }
}

export function readFolderLayout(rootArg: string): LayoutRead {
  const root = path.resolve(rootArg);
  if (statOrNull(root)?.isDirectory() !== true)
    throw new DataError(
      `${root} is not a folder.`,
      [{ kind: 'missing-file', file: root, message: 'not a folder' }],
      'Pass --root: the folder with one sub-folder per product (or per super class, each with one per product).',
    );
  const errors: DataProblem[] = [];
  const warnings: DataProblem[] = [];
  const images: ListedImage[] = [];
  const top = entriesOf(root);
  for (const img of top.images)
    warnings.push({
      kind: 'layout',
      file: img,
      message: 'image directly in the root, not in a product folder: left out',
    });

  const folderOfLabel = new Map<string | number, string>();
  const addProduct = (dir: string, entries: FolderEntries, superLabel: string | null) => {
    const name = portableRelative(root, dir);
    // As the training loader reads labels: `0042` is the product 42.
    const label = parseLabel(name, true);
    const product = label.ok && label.label !== null ? label.label : name;
    const earlier = folderOfLabel.get(product);
    if (earlier !== undefined) {
      errors.push({
        kind: 'inconsistent',
        file: dir,
        message: `product id ${JSON.stringify(product)} is also the id of ${earlier}/ (numeric names are read as numbers); rename one folder`,
      });
      return;
    }
    folderOfLabel.set(product, name);
    for (const sub of entries.folders)
      warnings.push({
        kind: 'layout',
        file: sub,
        message: `folder inside the product folder ${name}/: its images are left out (products are one level ${superLabel === null ? 'under the root' : 'under a super-class folder'})`,
      });
    if (entries.images.length === 0) {
      warnings.push({ kind: 'layout', file: dir, message: `product folder ${name}/ holds no images: left out` });
      return;
    }
    for (const abs of entries.images)
      images.push({ abs, path: portableRelative(root, abs), product, superLabel, file: dir });
  };

  // Each top folder is a product (it holds images) or a super class (it holds only folders).
  const kinds = top.folders.map((dir) => ({ dir, entries: entriesOf(dir) }));
  const products = kinds.filter((k) => k.entries.images.length > 0);
  const supers = kinds.filter((k) => k.entries.images.length === 0 && k.entries.folders.length > 0);
  if (products.length > 0 && supers.length > 0) {
    const both = (k: (typeof kinds)[number]) => k.entries.images.length > 0 && k.entries.folders.length > 0;
    // A folder with images and folders is the usual culprit; else name one of each kind.
    for (const k of products.filter(both))
      errors.push({
        kind: 'layout',
        file: k.dir,
        message:
          'holds both images and folders: a folder is either a product (images) or a super class (product folders)',
      });
    if (errors.length === 0)
      errors.push({
        kind: 'layout',
        file: root,
        message: `mixes product folders (e.g. ${path.basename(products[0]!.dir)}/, with images) and super-class folders (e.g. ${path.basename(supers[0]!.dir)}/, with folders only); use one level of folders or two everywhere`,
      });
    return { source: root, imageRoot: root, images: [], errors, warnings, missing: [] };
  }
  for (const k of kinds) {
    if (k.entries.images.length > 0) addProduct(k.dir, k.entries, null);
    else if (k.entries.folders.length > 0) {
      const superLabel = path.basename(k.dir);
      for (const dir of k.entries.folders) addProduct(dir, entriesOf(dir), superLabel);
    } else warnings.push({ kind: 'layout', file: k.dir, message: 'empty folder: left out' });
  }
  return { source: root, imageRoot: root, images, errors, warnings, missing: [] };
}
