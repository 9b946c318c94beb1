// Lets `node -r ./test/explore/register.js test/explore/main.ts` run the TypeScript sources directly, compiled
// by the same swc that jest uses, so the explorer runs outside jest with the test suite's own setup.
const { readFileSync } = require('node:fs');
const { transformSync } = require('@swc/core');

require.extensions['.ts'] = (module, filename) => {
  const { code } = transformSync(readFileSync(filename, 'utf8'), {
    filename,
    sourceMaps: 'inline',
    module: { type: 'commonjs' },
    jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
  });
  module._compile(code, filename);
};
