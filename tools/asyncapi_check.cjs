// Parses AsyncAPI documents with the official parser (@asyncapi/parser) and
// fails on any error diagnostic. ./dev test runs it with NODE_PATH pointing at
// the cached npm install.
const { Parser, fromFile } = require('@asyncapi/parser');

async function main() {
  const parser = new Parser();
  let errors = 0;
  for (const path of process.argv.slice(2)) {
    const { document, diagnostics } = await fromFile(parser, path).parse();
    const bad = diagnostics.filter((d) => d.severity === 0);
    for (const d of bad) console.error(`${path}: ${d.code} ${d.message} at ${d.path.join('.')}`);
    errors += bad.length + (document ? 0 : 1);
    console.error(`devstack: AsyncAPI parser: ${bad.length} errors in ${path} (${diagnostics.length - bad.length} other diagnostics)`);
  }
  process.exit(errors ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(1); });
