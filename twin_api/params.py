"""Query parameters several routers share."""

# no "from __future__ import annotations": FastAPI reads these annotations

from typing import Annotated

from fastapi import Query as Q

from . import twin_service as svc

#: Most values a repeatable parameter (``layers``, ``type``, ``where``) takes.
MAX_LIST = 100

Layers = Annotated[list[str] | None, Q(description="layer names (repeatable; an unknown "
                                       "layer is a 400)", max_length=MAX_LIST)]
Year = Annotated[int | None, Q(ge=svc.YEARS[0], le=svc.YEARS[1], description="reference year")]
