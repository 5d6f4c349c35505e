"""``twin observations``: meter readings into a twin's datastreams, and back out."""

from __future__ import annotations

import json
from dataclasses import replace

import click

import twin

from .options import TWIN
from .output import console, styled


@click.group("observations")
def observations() -> None:
    """Sensor readings on the twin (OGC SensorThings datastreams).

    Datastreams (a meter's flow, a logger's pressure) are created through the
    SensorThings API of 'twin serve' (/sta/v1.1/) or the Python API
    (twin.sensors); 'twin observations import' fills them from meter
    exports, 'twin alerts' lists the warnings that fire on them."""


@observations.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--twin", "twin_path", required=True, type=TWIN, help="The twin to import into.")
@click.option("--profile", type=click.Path(exists=True, dir_okay=False), default=None,
              help="TOML file with an [observations] table (time, value, datastream, unit, "
                   "timezone); the options below override it.")
@click.option("--time-column", default=None, help="Column of the reading times [time].")
@click.option("--value-column", default=None, help="Column of the values [value].")
@click.option("--datastream-column", default=None,
              help="Column naming each row's datastream (its id or unique name).")
@click.option("--datastream", default=None,
              help="The one datastream (id or unique name) of every row of the file.")
@click.option("--unit-column", default=None,
              help="Column of each row's unit (checked against its datastream's).")
@click.option("--unit", default=None,
              help="The unit of every value of the file (checked against the datastreams').")
@click.option("--timezone", default=None, metavar="ZONE",
              help="IANA zone (Asia/Shanghai) of times written without an offset; "
                   "required when the file has such times.")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default=None,
              help="File format (default: by extension).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def import_observations(file: str, twin_path: str, profile: str | None,
                        time_column: str | None, value_column: str | None,
                        datastream_column: str | None, datastream: str | None,
                        unit_column: str | None, unit: str | None, timezone: str | None,
                        fmt: str | None, as_json: bool) -> None:
    """Import a meter export (CSV or Parquet) into the twin's datastreams.

    One transaction: every usable reading lands, or (on a bad file) none.
    Rows without a usable time or value, for an unknown datastream or in a
    unit that is not their datastream's are skipped, counted and listed by
    row number; a file whose every row is skipped fails.

    \b
    Example:
      twin observations import readings.csv --twin city.gpkg \\
          --datastream-column meter --time-column ts --value-column m3 \\
          --unit m3/h --timezone Asia/Shanghai
    """
    from converters.observations import Mapping, import_observations, load_profile, merge

    base = load_profile(profile) if profile else Mapping()
    mapping = merge(base, time=time_column, value=value_column,
                    datastream_column=datastream_column, datastream=datastream,
                    unit_column=unit_column, unit=unit, timezone=timezone)
    if datastream is not None and datastream_column is None:  # the option beats the profile
        mapping = replace(mapping, datastream_column=None)
    with twin.open_twin(twin_path) as store:
        report = import_observations(store, file, mapping, fmt)
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    out = console(soft_wrap=True)
    out.print(styled("imported", "bold green"),
              f"{report['source']}: {report['observations']} observations into "
              f"{len(report['datastreams'])} datastreams ({report['rows']} rows)")
    if report["without_feature_of_interest"]:
        things = sorted(k for k, v in report["features_of_interest"].items() if v is None)
        out.print(styled(f"  {report['without_feature_of_interest']} observations have no "
                         "FeatureOfInterest: the Things of datastreams "
                         f"{', '.join(things)} have no Location to make one from", "yellow"),
                  markup=False)
    if report["skipped"]:
        out.print(styled(f"  skipped {report['skipped']} rows", "yellow"))
        for s in report["skipped_rows"]:
            out.print(f"    row {s['row']}: {s['reason']}", markup=False)
        if report["skipped"] > len(report["skipped_rows"]):
            out.print(f"    ... and {report['skipped'] - len(report['skipped_rows'])} more")


@click.command("alerts")
@click.argument("twin_path", metavar="TWIN", type=TWIN)
@click.option("--rules", type=click.Path(exists=True, dir_okay=False), default=None,
              help="TOML file of [[rule]] tables (default: the toolkit's "
                   "twin/data/alert_rules.toml).")
@click.option("--as-of", default=None, metavar="TIME",
              help="Evaluate at this ISO 8601 time with its offset (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print the alerts as JSON.")
def alerts(twin_path: str, rules: str | None, as_of: str | None, as_json: bool) -> None:
    """Warnings that fire on the twin's sensors: thresholds, rates of change,
    a rise of the minimum night flow (a leak), meters gone silent.

    Each line names the rule, the datastream, the twin feature it sits on,
    the values and since when. Exit status 0 whether or not any fire.
    """
    import time

    from twin.sensors.alerts import evaluate, load_rules
    from twin.sensors.model import to_ms
    from twin.sensors.store import sensors_of

    when = to_ms(as_of, what="--as-of") if as_of else int(time.time() * 1000)
    with twin.open_twin(twin_path, readonly=True) as store:
        fired = evaluate(sensors_of(store), load_rules(rules), when)
    if as_json:
        click.echo(json.dumps([a.to_dict() for a in fired], indent=2, ensure_ascii=False))
        return
    out = console(soft_wrap=True)
    if not fired:
        out.print(styled("no alerts", "bold green"))
    for a in fired:
        d = a.to_dict()
        out.print(styled(a.rule, "bold yellow"), f"{a.feature_id or '-'}", markup=False)
        out.print(f"  {a.message} (datastream {a.datastream}, since {d['since']})",
                  markup=False)
