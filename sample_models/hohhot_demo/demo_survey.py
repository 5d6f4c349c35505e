"""The CJJ 61 survey tables of the demo district (``generate.py`` writes
``survey/points.csv`` and ``survey/lines.csv`` with them): the newly
surveyed eastern extension of Xinhua Avenue, Chinese headings, GBK."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

SURVEY_POINT_HEADER = ["点号", "X", "Y", "地面高程", "特征", "附属物", "井深", "管线类型"]
SURVEY_LINE_HEADER = ["起点号", "终点号", "管线类型", "起点埋深", "终点埋深", "起点管底高程",
                      "终点管底高程", "管径", "材质", "压力", "电缆条数", "建设年代", "权属单位",
                      "埋设方式"]


def survey_tables(d: Any, nx: int, ny: int) -> tuple[list[list], list[list]]:
    """A CJJ 61 survey of the eastern extension of Xinhua Avenue (east of the grid):
    X is the northing and Y the easting, as in Chinese survey tables; depths to the
    outer top, except drainage (to the inner bottom); one sewer line gives invert
    elevations, one gas line has no depth (assumed on import), one power line no year."""
    x_start = d.street_x(nx) + 40
    y_axis = d.street_y(ny // 2)
    spec = {  # code: offset, depth, size, material, pressure, node accessory
        "JS": (4.0, 2.34, "DN300", "球墨铸铁", "0.4MPa", "阀门"),
        "WS": (0.0, 4.6, "DN500", "钢筋混凝土", "", "检查井"),
        "RQ": (8.0, 1.95, "DN200", "PE", "中压B", "阀门"),
        "RL": (-8.0, 2.8, "DN400", "钢", "1.6MPa", "阀门井"),
        "DL": (10.0, 1.27, "600×400", "PVC", "", "电力井"),
    }
    points, lines = [], []
    for code, (off, depth, size, mat, pres, acc) in spec.items():
        ids = []
        for k in range(6):
            pid = f"{code}{k + 1:03d}"
            x, y = x_start + 60 * k, y_axis + off
            g = d.ground(x, y)
            feature = "" if k % 2 else ("直线点" if code != "WS" else "")
            if k == 5:  # the survey ends here: a stub left for the next section
                feature = "预留口"
            accessory = acc if ((k % 2 == 0 and k < 5) or code == "WS") else ""
            well = f"{depth + 0.4:.2f}" if accessory in ("检查井", "阀门井", "电力井") else ""
            points.append([pid, f"{y:.3f}", f"{x:.3f}", f"{g:.3f}", feature, accessory, well,
                           code])
            ids.append(pid)
        for k in range(5):
            a, b = ids[k], ids[k + 1]
            da = depth + (0.0008 * 60 * (5 - k) if code == "WS" else 0)
            db = depth + (0.0008 * 60 * (4 - k) if code == "WS" else 0)
            inv_a = inv_b = ""
            sa, sb = f"{da:.2f}", f"{db:.2f}"
            if code == "WS" and k == 2:  # this line was levelled: invert elevations given
                xa, xb = x_start + 60 * k, x_start + 60 * (k + 1)
                inv_a = f"{d.ground(xa, y_axis) - da:.3f}"
                inv_b = f"{d.ground(xb, y_axis) - db:.3f}"
                sa = sb = ""
            if code == "RQ" and k == 4:  # depth not measured
                sa = sb = ""
            cables = "6" if code == "DL" else ""
            year = "" if (code == "DL" and k == 1) else f"{2019 + k}年"
            owner = {"JS": "呼和浩特市水务", "WS": "呼和浩特市排水", "RQ": "呼和浩特燃气",
                     "RL": "呼和浩特热力", "DL": "内蒙古电力"}[code]
            burial = "排管" if code == "DL" else "直埋"
            row = [a, b, code, sa, sb, inv_a, inv_b, size, mat, pres, cables, year, owner,
                   burial]
            if code == "WS":  # sewers are recorded from upstream (east) to downstream
                row[0:7] = [b, a, code, sb, sa, inv_b, inv_a]
            lines.append(row)
    return points, lines


def write_survey(d: Any, nx: int, ny: int, out_dir: Path) -> dict[str, int]:
    """The two tables as GBK (GB 18030) CSV files in ``out_dir``."""
    points, lines = survey_tables(d, nx, ny)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, header, rows in (("points.csv", SURVEY_POINT_HEADER, points),
                               ("lines.csv", SURVEY_LINE_HEADER, lines)):
        with open(out_dir / name, "w", encoding="gb18030", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(rows)
    return {"survey points": len(points), "survey lines": len(lines)}
