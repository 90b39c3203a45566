// Regenerates docs/errors.md and docs/module-reference.md (run after `npm run build`).
import { readFileSync, writeFileSync } from 'node:fs';
const { errorsMarkdown } = await import('../dist/compiler/docs/errors-doc.js');
const { referenceMarkdown } = await import('../dist/compiler/docs/reference-doc.js');
const schema = JSON.parse(readFileSync(new URL('../schemas/module.schema.json', import.meta.url), 'utf8'));
writeFileSync(new URL('../docs/errors.md', import.meta.url), errorsMarkdown());
writeFileSync(new URL('../docs/module-reference.md', import.meta.url), referenceMarkdown(schema));
console.log('docs/errors.md and docs/module-reference.md written');
