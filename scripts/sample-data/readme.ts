/** The README of the generated sample data set (written by make-sample-sop.ts). */
export interface ReadmeFacts {
  categories: readonly string[];
  productsPerCategory: number;
  viewsPerProduct: number;
  seed: number;
  jpegQuality: number;
  totalImages: number;
  megabytes: number;
}

export function readmeText(f: ReadmeFacts): string {
  const products = f.categories.length * f.productsPerCategory;
  return `# vembed sample data set (SOP layout)

A small stand-in for [Stanford Online Products](https://cvgl.stanford.edu/projects/lifted_struct/)
for the demo and the tests: ${f.categories.length} super classes, ${products} products, ${f.viewsPerProduct} views each
(${f.totalImages} JPEG images, ${f.megabytes.toFixed(1)} MB), laid out exactly like SOP:

- \`<super_class>_final/<class_id>_<view>.jpg\`: the images (128-160 px, JPEG quality ${f.jpegQuality});
- \`Ebay_train.txt\` / \`Ebay_test.txt\`: header \`image_id class_id super_class_id path\`, one image a line;
  half of each super class's products are for training, the other half for testing (disjoint products);
- \`train.jsonl\` / \`val.jsonl\`: the pairs \`vembed prepare-sop\` writes (default seed 42).
  As with SOP, \`val.jsonl\` is the **test** split.
- \`SOURCES.tsv\`: the drawing behind each product (class id -> source file).

Super classes (\`super_class_id\` in this order): ${f.categories.map((c, i) => `${i + 1} ${c}`).join(', ')}.

## Where the images come from

Each product is one drawing from Debian's \`openclipart-svg\` package (Open Clip Art Library,
version 0.18), rasterised with librsvg through sharp. A view places the drawing on a background
(plain, gradient, stripes or soft texture, sometimes with a shape or two of clutter) at a random
scale, position (possibly cut at the edge) and rotation (±30°), sometimes mirrored, greyscale or
blurred, under a random light or shadow patch and brightness/saturation/hue change. Retrieval has
to match views of the same drawing across those changes.

## Licence

The Open Clip Art Library drawings are in the **public domain** (Creative Commons Public Domain
Dedication; see \`/usr/share/doc/openclipart-svg/copyright\` on Debian). The views derived from them
here are dedicated to the public domain as well.

## Rebuilding

\`\`\`sh
apt-get install openclipart-svg        # Debian/Ubuntu
npx tsx scripts/sample-data/make-sample-sop.ts [--out DIR] [--seed N]
\`\`\`

The script is deterministic (seed ${f.seed}): the same package and sharp version give the same files.
Drawings that are too large, fail to render, are nearly empty, contain embedded raster images, or
repeat another drawing are skipped.
`;
}
