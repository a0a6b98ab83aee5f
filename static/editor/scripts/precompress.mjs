// Writes NAME.gz and NAME.br beside every script and stylesheet of a build folder (../dist by default), at the
// highest levels: they are made once per build and served many times (handlers/static.go picks the one a request
// accepts). The drift test (static/dist_test.go) checks that each twin decodes to its file.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const dir = process.argv[2] ?? "../dist";
for (const name of readdirSync(dir)) {
  if (!/\.(js|css)$/.test(name)) continue;
  const raw = readFileSync(join(dir, name));
  writeFileSync(join(dir, name + ".gz"), gzipSync(raw, { level: 9 }));
  writeFileSync(
    join(dir, name + ".br"),
    brotliCompressSync(raw, {
      params: {
        [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
        [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
        [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
      },
    }),
  );
}
