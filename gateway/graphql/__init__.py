"""The GraphQL endpoint: GraphQL over HTTP (`endpoint`), persisted and trusted documents,
prepared operations (a planned query answered again without parsing), and GraphiQL.
"""
