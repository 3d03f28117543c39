// TypeScript types for a client's operations, from the committed SDL.
//
// `typescript-operations` alone: with the current major, adding the `typescript` plugin
// declares the schema's enums a second time and the output no longer compiles. The
// custom scalars travel as JSON strings (`DateTime` in RFC 3339, `Decimal` exact).
//
//   npx graphql-codegen --config codegen.ts   (documents: your .graphql files)
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: process.env.GATEWAY_SCHEMA ?? "../schema/schema.graphql",
  documents: process.env.GATEWAY_DOCUMENTS ?? "src/**/*.graphql",
  generates: {
    [process.env.GATEWAY_OUTPUT ?? "src/generated/operations.ts"]: {
      plugins: ["typescript-operations"],
      config: {
        scalars: { DateTime: "string", Decimal: "string" },
        enumType: "string-literal",
      },
    },
  },
};

export default config;
