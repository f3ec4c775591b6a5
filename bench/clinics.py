"""``python -m bench.clinics``: five clinic systems answering ``dsr.tasks`` for the benchmark.

The three example systems (``examples/clinic_systems``: EMR, website, marketing list, with their
sample data) and two more built the same way (a laboratory system and a pharmacy system, seeded
with records of ``patient-1001``), each a :class:`examples.clinic_systems.system.ClinicSystem`
registering with the request service and answering its tasks over Kafka exactly as the example
does.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import date

from examples.clinic_systems.__main__ import serve
from examples.clinic_systems.sample_data import Category, Record, SampleSystem, SystemSpec, load_sample_systems
from examples.clinic_systems.system import ClinicSystem, Settings
from shared.observability import configure_logging

EXTRA = (
    SystemSpec(
        system_id="lab", name="Laboratory", description="Test findings.", processor=False,
        categories={"test_findings": Category("test_findings", ("treatment",))},
    ),
    SystemSpec(
        system_id="pharmacy", name="In-house pharmacy", description="Dispensing records.", processor=False,
        categories={"prescriptions": Category("prescription", ("treatment",))},
    ),
)


def systems() -> list[SampleSystem]:
    stores = list(load_sample_systems().values())
    for spec in EXTRA:
        category = next(iter(spec.categories))
        seeded = {"patient-1001": [Record(category, date(2025, 3, 2), {category: f"{spec.name} record"})]}
        stores.append(SampleSystem(spec, seeded))
    return stores


def main() -> int:
    configure_logging("examples", os.environ.get("EXAMPLE_LOG_LEVEL", "INFO"))
    settings = Settings.from_env()
    return asyncio.run(serve([ClinicSystem(store, settings) for store in systems()]))


if __name__ == "__main__":
    sys.exit(main())
