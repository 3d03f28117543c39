// Trusted documents (GRAPHQL__TRUSTED_DOCUMENTS) with GraphQL Codegen's client preset:
// it writes persisted-documents.json ({"sha256:<hash>": document}) beside the typed
// `graphql()` helper; the gateway reads that file as it is.
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: process.env.GATEWAY_SCHEMA ?? "../schema/schema.graphql",
  documents: process.env.GATEWAY_DOCUMENTS ?? "src/**/*.graphql",
  generates: {
    [process.env.GATEWAY_OUTPUT ?? "src/gql/"]: {
      preset: "client",
      presetConfig: { persistedDocuments: true },
      config: { scalars: { DateTime: "string", Decimal: "string" } },
    },
  },
};

export default config;
