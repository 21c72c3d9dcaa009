"""The voter's page of a rating by ticket (/r/): public, no sign-in, Chinese only, one small page and a cached
stylesheet, no script; it works on any phone browser.

    /r/              type the code printed on the ticket (a GET with `code` goes on to the ticket's page)
    /r/<code>/       the ticket's ballot (what the QR code opens); refused with a clear message when the ticket is
                     unknown, replaced, used, not yet open, expired or closed
    POST /r/         the vote (the code in the body, not in the address: nothing the portal records keeps it)
    /r/thanks/       said after a vote

Each request counts against the address's budget (`RATING_RATE_ADDRESS`), each ticket's page and vote against the
ticket's (`RATING_RATE_TICKET`, keyed by the code's hash); over it the page answers 429 with `Retry-After`. A refusal
says nothing about the rating (not even which), so a code tells nothing about any rating but its own. CSRF works
without a session: the page sets the token's cookie.
"""

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.views.decorators.http import require_GET, require_http_methods

from assessments import ratings
from assessments.models import AudienceKind
from branches import audit

STATUS = {  # what each refusal answers
    ratings.UNKNOWN: 404,
    ratings.NOT_YET: 403,
    ratings.VOIDED: 410,
    ratings.SPENT: 410,
    ratings.EXPIRED: 410,
    ratings.CLOSED: 410,
}


def _page(request, template, context=None, status=200):
    with translation.override("zh-hans"):
        response = render(request, template, context or {}, status=status)
    response["Content-Language"] = "zh-hans"
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "strict-origin"  # the ticket's address holds its code: send the origin only
    return response


def _too_many(request, code=None):
    """Seconds to wait when the address (or the ticket) has asked too often, else 0."""
    wait = ratings.throttled("address", audit.current().remote_addr or "-", ratings.address_rate())
    if not wait and code is not None:
        wait = ratings.throttled("ticket", ratings.ticket_key(code), ratings.ticket_rate())
    return wait


def _throttled(request, wait):
    response = _page(request, "assessments/vote/refused.html", {"too_many": True, "wait": wait}, status=429)
    response["Retry-After"] = str(wait)
    return response


def _refused(request, error):
    return _page(request, "assessments/vote/refused.html", {"message": error.messages[0]}, status=STATUS[error.reason])


def _ballot(request, ticket, code, *, errors=None, chosen=None, comment=""):
    questions = list(ticket.rating.questions.all())
    return _page(
        request,
        "assessments/vote/ballot.html",
        {
            "rating": ticket.rating,
            "audience": AudienceKind(ticket.audience.kind).label,
            "code": ratings.normalized(code),
            "questions": [
                (question, (errors or {}).get(f"q{question.pk}", []), (chosen or {}).get(str(question.pk), ""))
                for question in questions
            ],
            "errors": errors or {},
            "comment": comment,
        },
        status=400 if errors else 200,
    )


@login_not_required
@require_http_methods(["GET", "POST"])
def start(request):
    """Type the code (GET), or vote (POST)."""
    if request.method == "POST":
        return _vote(request)
    typed = request.GET.get("code", "")
    wait = _too_many(request, typed if typed else None)
    if wait:
        return _throttled(request, wait)
    if typed:
        code = ratings.normalized(typed)
        if code:
            return redirect("vote:ballot", code=code)
        return _page(
            request,
            "assessments/vote/start.html",
            {"message": ratings.refusal(ratings.UNKNOWN), "typed": typed[:40]},
            status=404,
        )
    return _page(request, "assessments/vote/start.html")


@login_not_required
@require_GET
def ballot(request, code):
    wait = _too_many(request, code)
    if wait:
        return _throttled(request, wait)
    try:
        ticket = ratings.ticket_for(code)
    except ratings.TicketRefused as error:
        return _refused(request, error)
    return _ballot(request, ticket, code)


def _vote(request):
    code = request.POST.get("code", "")
    wait = _too_many(request, code)
    if wait:
        return _throttled(request, wait)
    answers = {key[1:]: value for key, value in request.POST.items() if key.startswith("q") and key[1:].isdigit()}
    comment = request.POST.get("comment", "")
    try:
        ratings.ballot_cast(code=code, answers=answers, comment=comment)
    except ratings.TicketRefused as error:
        return _refused(request, error)
    except ValidationError as error:
        try:
            ticket = ratings.ticket_for(code)
        except ratings.TicketRefused as refused:
            return _refused(request, refused)
        return _ballot(request, ticket, code, errors=error.message_dict, chosen=answers, comment=comment[:500])
    return redirect(reverse("vote:thanks"))


@login_not_required
@require_GET
def thanks(request):
    return _page(request, "assessments/vote/thanks.html")
