"""What the dashboard's posted forms share beyond the CSRF check (``frame.Checked``): a moment read
on the clinic's clock, the signed-in person as the actor, and one attempt at a command built from
a form: done (to the page it names), or the form again with its fields' errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from services.dsr.dashboard.frame import Frame, field_label, invalid_fields, problem_errors
from services.dsr.web.forms import Form
from shared.problems import Problem


class Unreadable(Exception):
    """A field the form sent that cannot be read as what it should be (a moment, a number)."""

    def __init__(self, field: str, expected: str) -> None:
        super().__init__(field)
        self.field = field
        self.expected = expected


def local_input(at: datetime | None, frame: Frame) -> str:
    """A moment as a ``datetime-local`` input shows it, on the clinic's clock."""
    return at.astimezone(frame.dash.zone).strftime("%Y-%m-%dT%H:%M") if at is not None else ""


def moment(form: Form, name: str, frame: Frame) -> datetime | None:
    """A ``datetime-local`` field read on the clinic's clock (it has no offset); None when empty."""
    text = form.text(name)
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise Unreadable(name, "YYYY-MM-DDTHH:MM") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=frame.dash.zone)


Again = Callable[[int, str, dict[str, str]], Awaitable[Response]]


async def attempt(frame: Frame, again: Again, build: Callable[[], BaseModel],
                  act: Callable[[BaseModel], Awaitable[str]]) -> Response:
    """``build`` the command from the form, ``act`` on it; to the page ``act`` names, or the form
    again with what was refused."""
    try:
        command = build()
        target = await act(command)
    except Unreadable as exc:
        return await again(422, f"{field_label(frame.lang, exc.field)}: {exc.expected}", {exc.field: exc.expected})
    except ValidationError as exc:
        message, fields = problem_errors({"errors": invalid_fields(exc)}, frame.lang)
        return await again(422, message, {k.split(".")[0]: v for k, v in fields.items()})
    except Problem as problem:
        message, fields = problem_errors(problem, frame.lang)
        return await again(problem.status, message, {k.split(".")[0]: v for k, v in fields.items()})
    return RedirectResponse(target, 303)


def actor(frame: Frame) -> str:
    """The signed-in person, as the API names a key's holder (``role:name``)."""
    assert frame.session is not None
    return f"{frame.session.account.role.value}:{frame.username}"
