"""The built-in mock backend; import it from `tollhouse.mock_backend`.

The modules split the work: `settings` (defaults and per-request
directives), `app` (routes and the pipeline), `chat`, `responses` and
`media` (the operations), `exchange` and `text` (what is echoed and
counted), `replies` and `wire` (what is sent and how), `errors`.
"""
