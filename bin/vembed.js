#!/usr/bin/env node
// `vembed` on the PATH (npm bin): runs the bundled engine.
const path = require('node:path');
const fs = require('node:fs');
const bundle = path.join(__dirname, '..', 'dist', 'engine', 'vembed.js');
if (!fs.existsSync(bundle)) {
  process.stderr.write(
    `vembed is not built yet (${bundle} is missing). Run \`npm install\` or \`npm run build\` in ${path.dirname(__dirname)}.\n`,
  );
  process.exit(2);
}
require(bundle);
