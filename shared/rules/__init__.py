"""The rules of law the three services keep, each defined once, beside its legal citation.

Every service, page and message derives what it says and does from these modules; none keeps a
copy of a value (``tests/unit/test_one_home_per_rule.py`` checks that the consumers take them
from here).

| module | the rule |
|---|---|
| :mod:`~shared.rules.clinic` | the clinic's time zone: its day is the day of an age, a deadline, a send |
| :mod:`~shared.rules.ages` | who may consent or file alone, per jurisdiction (PIPA 22-2, Decree 13, GDPR 8) |
| :mod:`~shared.rules.purposes` | the purpose catalogue (PIPA 22(1): consent per purpose) |
| :mod:`~shared.rules.deadlines` | when a request must be answered, and its one extension |
| :mod:`~shared.rules.notices` | a new policy's notice period; the night-time hours of marketing |
| :mod:`~shared.rules.retention` | how long each class of record is kept (Medical Service Act and others) |
| :mod:`~shared.rules.calendar` | calendar months and working days, counted the law's way |
| :mod:`~shared.rules.breaches` | a leak's 72-hour clock, and when the regulator must be told (PIPA 34, Decree 39-40) |
"""
