"""A twin of twins: a region's (or a city's) view over its members' twins.

Each level runs its own ``twin serve``; the level above reads its members
through their public APIs only (OGC API - Features, ``/indicators``, 3D
Tiles), caches what they answer with HTTP revalidation (ETag and
Last-Modified), and marks every answer that lacks a member as partial,
naming the member and why. See ``docs/federation.md``.

:mod:`.config` reads the members file, :mod:`.client` talks to one member,
:mod:`.capabilities` learns what a member offers, :mod:`.search`,
:mod:`.rollup` and :mod:`.tileset` make the federated answers. These modules
depend on :mod:`twin` and httpx only; :mod:`twin_api.routes_federation`
serves them.
"""
