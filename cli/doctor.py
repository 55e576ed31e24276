"""``zoo doctor``: is this machine ready?"""

from __future__ import annotations

import click

from cli._common import ZooCommand, console, data_dir_option, emit_json, json_option


@click.command("doctor", cls=ZooCommand)
@data_dir_option
@json_option
def doctor(data_dir, as_json):
    """Check versions, devices, the TFDS data directory and which datasets are prepared.
    Makes no network requests.

    \b
    Example:
      zoo doctor --data-dir ~/tensorflow_datasets
    """
    from zoo import api

    report = api.doctor(data_dir)
    if as_json:
        emit_json(report)
        return
    out = console(False)
    for c in report["checks"]:
        mark = "ok  " if c["ok"] else "FAIL"
        line = f"{mark} {c['check']}: {c['value']}"
        out.print(line + (f"  ({c['advice']})" if c["advice"] else ""))
    out.print("ready" if report["ok"] else "not ready: fix the FAIL lines above")
