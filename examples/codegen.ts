// graphql-codegen configuration for a TypeScript frontend of the gateway.
// It reads the committed schema (schema.graphql, printed by
// `go run ./cmd/gateway -print-schema`) and the operations under
// examples/operations/, and maps every custom scalar to the type the
// gateway actually sends and accepts (docs/scalars.md). strictScalars
// makes generation fail on a scalar left unmapped, instead of typing it
// `any`/`unknown` silently. CI runs it: scripts/codegen-check.sh.
//
//   npx graphql-codegen --config examples/codegen.ts
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: 'schema.graphql',
  documents: ['examples/operations/*.graphql'],
  generates: {
    'examples/generated/graphql.ts': {
      plugins: ['typescript-operations'],
      config: {
        strictScalars: true,
        useTypeImports: true,
        scalars: {
          // Whole pesos: a JSON integer out; in, a number or a string
          // (read exactly from its text; a string keeps every digit).
          Money: { input: 'string | number', output: 'number' },
          // Exact decimals travel as strings both ways: a JS number may round.
          Decimal: 'string',
          // YYYY-MM-DD.
          Date: 'string',
          // RFC 3339 with offset.
          DateTime: 'string',
          // Upstream JSON passed through as is.
          JSON: 'unknown',
          // A file part of a multipart request (input only).
          Upload: 'File',
        },
      },
    },
  },
};

export default config;
