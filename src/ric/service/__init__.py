"""The cloud side of RIC: `ric serve`, an HTTP service that stores ciphertexts and labels them.

It holds no key and never accepts one. Modules, one job each:
  settings.py  limits and configuration (a dataclass), database URL normalisation
  tokens.py    upload tokens: generation and hashing (only hashes and a short display prefix are stored)
  store.py     SQLAlchemy tables and the Store (SQLite file by default, PostgreSQL by URL); images are owned
               by the token that uploaded them; per-token upload quotas (images, bytes); schema upgrades
               of older stores
  uploads.py   checks one uploaded file: size, PNG chunk walk (ric.io.png.walk_png), RIC container
               (ric.schemes.container.sniff), sealed claims against the pixels, plain identities
  batcher.py   the classifier, loaded once; concurrent requests are labelled in batches bounded in pixels
  limits.py    ASGI middleware refusing request bodies over the limit before they are read; the per-token
               request rate limit (token buckets, injectable clock)
  app.py       the FastAPI application factory (create_app): middleware, error handlers, routers, document
  schemas.py   the JSON bodies (pydantic) and the error statuses each operation lists in the OpenAPI document
  deps.py      the dependencies routes take (overridable with app.dependency_overrides): the service context
               (settings, store, batcher, rate limiter, classifier) and the bearer-token check with its rate limit
  errors.py    ApiError and the handlers that make every error JSON (405 with Allow, 401 with WWW-Authenticate)
  middleware.py HEAD answered as GET without a body
  openapi.py   the exact OpenAPI document: label and cursor parameters, non-empty upload parts, links
  routes/      one APIRouter per topic: service (healthz, stats, usage), images (upload, list, record, content
               with ETag, delete), classes, gallery
  gallery.html the web page (gallery grouped by predicted class, upload form)
  client.py    the client: `ric upload` and `ric download` against a running service (httpx)
  cli.py       `ric serve`, `ric token create|list|set-quota|revoke`, `ric upload`, `ric download`
Importing this package imports nothing heavy; app.py and its parts need FastAPI, store.py SQLAlchemy.
"""
