"""The cloud side of RIC: `ric serve`, an HTTP service that stores ciphertexts and labels them.

It holds no key and never accepts one. Modules, one job each:
  settings.py  limits and configuration (a dataclass), database URL normalisation
  errors.py    service and client errors (one-line messages, exit codes for the CLI)
  tokens.py    upload tokens: generation and hashing (only hashes and a short display prefix are stored)
  store.py     SQLAlchemy tables and the Store (SQLite file by default, PostgreSQL by URL); images are owned
               by the token that uploaded them; schema upgrades of older stores
  uploads.py   checks one uploaded file: size, PNG chunk headers, RIC container (ric.container.sniff),
               sealed claims against the pixels, plain identities
  batcher.py   the classifier, loaded once; concurrent requests are labelled in batches bounded in pixels
  limits.py    ASGI middleware refusing request bodies over the limit before they are read
  app.py       the FastAPI application: API, JSON errors, the gallery page
  gallery.html the web page (gallery grouped by predicted class, upload form)
  cli.py       `ric serve`, `ric token create|list|revoke`, `ric upload`, `ric download`
Importing this package imports nothing heavy; app.py needs FastAPI, store.py SQLAlchemy.
"""
