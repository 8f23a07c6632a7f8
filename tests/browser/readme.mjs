// Checks every GraphQL example in README.md against the contract, schema.graphql, as a client's
// codegen would: each operation must parse and validate (field names, arguments, input types).
// A README example that drifts from the schema fails here instead of in a user's editor.
//
// Usage: node readme.mjs   (from anywhere)
import { readFileSync } from 'node:fs';
import { buildSchema, parse, print, validate } from 'graphql';

const root = new URL('../../', import.meta.url);
const schema = buildSchema(readFileSync(new URL('schema.graphql', root), 'utf8'));
const readme = readFileSync(new URL('README.md', root), 'utf8');
const blocks = [...readme.matchAll(/```graphql\n([\s\S]*?)```/g)].map((m) => m[1]);

let operations = 0;
let invalid = 0;
for (const block of blocks) {
  for (const definition of parse(block).definitions) {
    operations += 1;
    const errors = validate(schema, { kind: 'Document', definitions: [definition] });
    if (errors.length > 0) {
      invalid += 1;
      console.log(`INVALID: ${print(definition).replace(/\s+/g, ' ').slice(0, 160)}`);
      for (const error of errors) console.log(`  ${error.message}`);
    }
  }
}
console.log(`README examples: ${operations} operations in ${blocks.length} blocks, ${invalid} invalid`);
process.exit(invalid === 0 && operations > 0 ? 0 : 1);
