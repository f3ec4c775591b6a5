"""The breach register (PIPA Art. 34): each suspected leak of personal information, its 72-hour
clock, who was told and when, and the draft notices to the people affected and to the regulator.

| module | what it holds |
|---|---|
| `model.py` | `Breach` as the store loads it, with the rules that read it: who is still to be told, which reminder is due, whether the regulator must be told |
| `schemas.py` | the HTTP bodies (recording, updating, people told, regulator reported, closing; the views and drafts) |
| `register.py` | `Breaches`: recording and changing a breach (sealed, audited, published on `dsr.events`), its clock |
| `drafts.py` | the notice to the people affected and the regulator's report, from the breach's facts |
| `messages.py` | every text of the drafts and the breach pages, in ko, en and vi |
| `store.py` | the register's SQL |
| `api.py` | `/v1/breaches`: thin HTTP endpoints |
| `errors.py` | the register's refusals |
"""
