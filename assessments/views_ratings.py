"""Pages of ratings by ticket (述职评议, 群众民意测评) in a round, for reviewers, assessors and the rated organization.

    rounds/<round>/ratings/         the round's ratings with their turnout, scores once closed, 末位 flagged
    rounds/<round>/ratings/new/     set one up (reviewers)
    ratings/<id>/                   one rating: its set-up, turnout per audience (live), the report, the results
    ratings/<id>/edit/              change the set-up while nobody has voted (reviewers)
    ratings/<id>/tickets/           issue the tickets and download them at once, as PDF or CSV (reviewers)
    ratings/<id>/close/, publish/   close the voting; publish the results into the assessment (reviewers)
    ratings/<id>/report/            the organization's 述职报告 (its secretary)

Thin: reads and writes through `assessments.ratings`; every rating fetched through the access helper (another
branch's id answers 404).
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from assessments import exports, ratings, selectors
from assessments.forms import RatingForm, RatingReportForm
from assessments.models import AudienceKind, Grade, Rating, RatingState
from branches import access
from branches.exports import respond
from branches.forms import show_service_errors
from branches.models import Organization
from branches.pages import confirm_page


def _rating(request, pk, action=access.VIEW):
    return access.get_scoped_or_404(
        request.user, Rating.objects.select_related("round", "organization", "created_by"), action, pk=pk
    )


def _detail_url(rating):
    return reverse("assessments:rating", args=[rating.pk])


def _reviews(user):
    return access.is_everywhere(user) or access.has_any(user, access.REVIEW)


@require_GET
def rating_list(request, pk):
    assessment_round = selectors.round_or_404(request.user, pk)
    if not selectors.judges_in(request.user):
        raise Http404
    rows = ratings.round_ratings(request.user, assessment_round)
    if request.GET.get("format") in ("csv", "xlsx"):
        return respond(
            exports.ratings_table(rows),
            _("ratings-%(round)s") % {"round": assessment_round.pk},
            request.GET["format"],
            sheet_title=_("ratings"),
        )
    return render(
        request,
        "assessments/ratings.html",
        {"round": assessment_round, "rows": rows, "may_set_up": _reviews(request.user)},
    )


def _save(request, form, assessment_round, organization, rating=None):
    try:
        saved = ratings.rating_save(
            round=assessment_round, organization=organization, setup=form.setup(), by=request.user, rating=rating
        )
    except ValidationError as error:
        if hasattr(error, "error_dict"):
            for key in ("questions", "audiences", "grade_points"):  # set-up parts shown above the form
                for message in error.error_dict.pop(key, []):
                    form.add_error(None, message)
        show_service_errors(form, error)
        return None
    messages.success(request, _("The rating is set up. Issue its tickets when the voters are known."))
    return redirect(_detail_url(saved))


@require_http_methods(["GET", "POST"])
def rating_add(request, pk):
    assessment_round = selectors.round_or_404(request.user, pk)
    if not _reviews(request.user):
        raise Http404
    form = RatingForm(request.POST or None, initial=RatingForm.initial_for())
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"].strip()
        organization = access.scoped(request.user, Organization.objects.all(), access.REVIEW).filter(code=code).first()
        if organization is None:
            form.add_error("code", _("“%(code)s” is not an organization of this round you review.") % {"code": code})
        else:
            done = _save(request, form, assessment_round, organization)
            if done:
                return done
    return render(request, "assessments/rating_form.html", {"round": assessment_round, "form": form})


@require_http_methods(["GET", "POST"])
def rating_edit(request, pk):
    rating = _rating(request, pk, access.REVIEW)
    form = RatingForm(request.POST or None, initial=RatingForm.initial_for(rating), editing=True)
    if request.method == "POST" and form.is_valid():
        done = _save(request, form, rating.round, rating.organization, rating)
        if done:
            return done
    return render(request, "assessments/rating_form.html", {"round": rating.round, "form": form, "rating": rating})


@require_GET
def rating_detail(request, pk):
    rating = _rating(request, pk)
    user, organization = request.user, rating.organization
    judges = access.can(user, access.REVIEW, organization) or access.can(user, access.ASSESS, organization)
    results = rating.results if ratings.sees_results(user, rating) else None
    counts = selectors.three_list_counts(user, organization, timezone.localdate())
    return render(
        request,
        "assessments/rating_detail.html",
        {
            "rating": rating,
            "round": rating.round,
            "questions": list(rating.questions.all()),
            "turnout": ratings.turnout(rating) if judges else None,
            "results": results,
            "audience_labels": dict(AudienceKind.choices),
            "grade_labels": dict(Grade.choices),
            "reviews": access.can(user, access.REVIEW, organization),
            "writes_report": access.can(user, access.EDIT, organization) and rating.state == RatingState.OPEN,
            "report_files": list(rating.report_files.all()),
            "three_lists": counts,
            "vote_start": reverse("vote:start"),
        },
    )


@require_http_methods(["GET", "POST"])
def rating_tickets(request, pk):
    """Issue the tickets and hand the sheet over at once (PDF or CSV): the codes are kept nowhere else. Issuing again
    voids the unspent tickets of the sheets before."""
    rating = _rating(request, pk, access.REVIEW)
    errors = []
    if request.method == "POST":
        try:
            issue = ratings.tickets_issue(rating=rating, by=request.user)
        except ValidationError as error:
            errors = error.messages
        else:
            if request.POST.get("format") == "csv":
                return exports.tickets_csv(issue)
            return exports.tickets_pdf(issue)
    return render(
        request,
        "assessments/rating_tickets.html",
        {
            "rating": rating,
            "round": rating.round,
            "turnout": ratings.turnout(rating, with_users=True),
            "errors": errors,
        },
    )


@require_http_methods(["GET", "POST"])
def rating_close(request, pk):
    rating = _rating(request, pk, access.REVIEW)
    return confirm_page(
        request,
        act=lambda: ratings.rating_close(rating=rating, by=request.user),
        success=_("The rating is closed: no more votes are taken. Its results are below."),
        next_url=_detail_url,
        template="assessments/rating_confirm.html",
        context={"rating": rating, "round": rating.round, "step": "close", "open": rating.state == RatingState.OPEN},
    )


@require_http_methods(["GET", "POST"])
def rating_publish(request, pk):
    rating = _rating(request, pk, access.REVIEW)
    return confirm_page(
        request,
        act=lambda: ratings.rating_publish(rating=rating, by=request.user),
        success=_("Published: the result is the organization's survey result of the round."),
        next_url=_detail_url,
        template="assessments/rating_confirm.html",
        context={
            "rating": rating,
            "round": rating.round,
            "step": "publish",
            "open": rating.state == RatingState.CLOSED,
        },
    )


@require_http_methods(["GET", "POST"])
def rating_report(request, pk):
    """The organization's 述职报告: text and files, by its secretary while the votes are collected."""
    rating = _rating(request, pk, access.EDIT)
    form = RatingReportForm(request.POST or None, request.FILES or None, initial={"report_text": rating.report_text})
    if request.method == "POST" and form.is_valid():
        try:
            ratings.report_save(
                rating=rating,
                text=form.cleaned_data["report_text"],
                uploads=form.cleaned_data["files"],
                by=request.user,
            )
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(request, _("The report is saved."))
            return redirect(_detail_url(rating))
    return render(
        request,
        "assessments/rating_report.html",
        {"rating": rating, "round": rating.round, "form": form, "open": rating.state == RatingState.OPEN},
    )
