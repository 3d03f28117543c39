"""The GraphQL endpoint: GraphQL over HTTP (`endpoint`), persisted and trusted documents,
prepared operations (a planned query answered again without parsing), and GraphiQL.
"""

# Where GraphQL is served: HTTP and WebSocket share the path.
GRAPHQL_PATH = "/graphql"
