"""Destruction: what the clinic may no longer keep of a person goes from every system that holds
it, processors included, within its time, with evidence (PIPA Art. 21; Decree Art. 16).

- ``planning``: what a withdrawal or an ended period destroys, what it keeps and why, who is told (pure rules);
- ``store``: the destruction log and its tasks (SQL);
- ``service``: creating a destruction, sending and chasing its tasks, recording the answers,
  the overdue notice, the log;
- ``consumer``: the ``consent.events`` consumer that reacts to each recorded withdrawal;
- ``log``: the log's rows, as JSON and as CSV;
- ``schemas``: what a clinic system reports for the retention clock, and the clocks;
- ``api``: ``GET /v1/destructions`` (JSON, or CSV for an inspection) and
  ``POST /v1/subjects/{id}/records`` (the retention clock).
"""
