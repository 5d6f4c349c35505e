"""Ground heights from a DEM raster (GeoTIFF or any raster GDAL reads).

:class:`DemSampler` reads the first band once (rasterio), reprojects plan
points from the twin CRS into the raster's CRS (pyproj) and interpolates
bilinearly between the four surrounding cell centres. Points outside the
raster or next to a nodata cell get ``nan``: the caller falls back to
another ground source or reports the point, never a guessed height. The
heights are taken to be in the twin's vertical datum (a DEM in another
height system must be converted first; the import report says which DEM
gave the ground).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pyproj import CRS, Transformer

from twin.errors import ConversionError

#: Largest raster read into memory, in cells (a 20,000 x 20,000 DEM).
MAX_CELLS = 400_000_000


class DemSampler:
    def __init__(self, path: str | Path, twin_crs: CRS, crs: CRS | None = None) -> None:
        import rasterio

        self.path = Path(path)
        try:
            with rasterio.open(self.path) as ds:
                if ds.width * ds.height > MAX_CELLS:
                    raise ConversionError(
                        f"{self.path}: {ds.width} x {ds.height} cells is more than the "
                        f"{MAX_CELLS:,} a DEM may have; clip it to the area first",
                        source=str(self.path))
                src_crs = crs or (CRS.from_user_input(ds.crs.to_wkt()) if ds.crs else None)
                if src_crs is None:
                    raise ConversionError(f"{self.path}: the DEM has no CRS; give it with "
                                          "--dem-crs", source=str(self.path))
                band = ds.read(1, masked=True).astype(np.float64)
                self.transform = ds.transform
                self.res = ds.res
        except rasterio.errors.RasterioError as exc:
            raise ConversionError(f"{self.path}: cannot be read as a DEM raster: {exc}",
                                  source=str(self.path)) from None
        self.z = np.ma.filled(band, np.nan)
        self.crs = src_crs
        self._to_dem = None if src_crs.equals(twin_crs) else Transformer.from_crs(
            twin_crs, src_crs, always_xy=True)
        self.shape = self.z.shape

    def heights(self, xy: np.ndarray) -> np.ndarray:
        """Ground height at each ``(n, 2)`` plan point of the twin CRS."""
        pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        if len(pts) == 0:
            return np.zeros(0)
        x, y = pts[:, 0], pts[:, 1]
        if self._to_dem is not None:
            x, y = self._to_dem.transform(x, y)
        inv = ~self.transform
        col, row = inv @ (np.asarray(x), np.asarray(y))
        # cell centres sit at +0.5: interpolate between the four around the point
        c, r = np.asarray(col) - 0.5, np.asarray(row) - 0.5
        c0, r0 = np.floor(c).astype(np.int64), np.floor(r).astype(np.int64)
        fc, fr = c - c0, r - r0
        h, w = self.shape
        ok = (c0 >= 0) & (r0 >= 0) & (c0 + 1 < w) & (r0 + 1 < h)
        out = np.full(len(pts), np.nan)
        if not ok.any():
            return out
        c0, r0, fc, fr = c0[ok], r0[ok], fc[ok], fr[ok]
        z = self.z
        top = z[r0, c0] * (1 - fc) + z[r0, c0 + 1] * fc
        bottom = z[r0 + 1, c0] * (1 - fc) + z[r0 + 1, c0 + 1] * fc
        out[ok] = top * (1 - fr) + bottom * fr  # nan next to nodata stays nan
        return out

    def describe(self) -> dict:
        return {"dem": self.path.name, "crs": self.crs.to_string(),
                "cells": [int(self.shape[1]), int(self.shape[0])],
                "resolution": [float(self.res[0]), float(self.res[1])]}
