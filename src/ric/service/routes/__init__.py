"""The service's routes, one APIRouter per topic: service (health, stats, usage), images (upload, list, one
record, content, delete), classes, gallery. Each takes its context and token check as FastAPI dependencies
(ric.service.deps), so a test or an embedding app can replace them with `app.dependency_overrides`."""
from . import classes, gallery, images, service

ROUTERS = tuple(m.router for m in (service, images, classes, gallery))
