"""The voter's pages of ratings by ticket, under /r/ (public: see assessments.views_vote)."""

from django.urls import path

from assessments import views_vote

app_name = "vote"

urlpatterns = [
    path("", views_vote.start, name="start"),
    path("thanks/", views_vote.thanks, name="thanks"),
    path("<str:code>/", views_vote.ballot, name="ballot"),
]
